"""The ``send_code`` task itself, run in-process (Celery's apply) on a real Redis and the
in-memory provider: a send that ends ``failed`` is a task FAILURE whose exception is the stable
error code and nothing more, and Celery does not retry it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import make_settings

# The module, not the task: pytest's collection would evaluate Celery's task proxy (and so the
# app's configuration) before the session runtime exists.
from tasks import send as send_module
from tasks.send import SendFailed
from worker import get_status, request_code
from worker.errors import DeliveryFailed, GatewayError, GatewayRejected
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime, get_runtime, set_runtime
from worker.settings import Settings

PHONE = "+79001234567"
SECRET = "hunter2-Пароль"  # what a gateway's text might quote back


def run_task(settings: Settings, sms: InMemoryProvider, phone: str) -> tuple[str, object, Runtime]:
    rt = Runtime.from_settings(settings, provider=sms)
    verification_id = request_code(phone, runtime=rt).id
    previous = get_runtime()
    set_runtime(rt)  # the task reads the process runtime, as in a worker
    try:
        result = send_module.send_code.apply(args=[verification_id])
    finally:
        set_runtime(previous)
    return verification_id, result, rt


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for rt in made:
        rt.close()


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (GatewayRejected(f"Неверный логин или пароль {SECRET} {PHONE}", code="auth_failed"),
         "auth_failed"),
        (DeliveryFailed(f"stop list: {PHONE}", code="phone_stop_listed", id_sms="1",
                        status="not_deliver"), "phone_stop_listed"),
    ],
    ids=["auth_failed", "delivery_failed"],
)  # fmt: skip
def test_a_failed_send_is_a_task_failure_with_the_code_only(
    redis_url: str,
    sms: InMemoryProvider,
    runtimes: list[Runtime],
    failure: GatewayError,
    code: str,
) -> None:
    sms.failures.append(failure)
    verification_id, result, rt = run_task(make_settings(redis_url), sms, PHONE)
    runtimes.append(rt)
    assert get_status(verification_id, runtime=rt).state == "failed"
    assert result.state == "FAILURE"  # type: ignore[attr-defined]
    exc = result.result  # type: ignore[attr-defined]
    assert isinstance(exc, SendFailed) and str(exc) == code
    assert repr(exc) == f"SendFailed('{code}')"
    for secret in (SECRET, PHONE, PHONE[1:]):
        assert secret not in repr(exc) and secret not in str(result.traceback)  # type: ignore[attr-defined]
    # Not retried: a retry would leave the task in RETRY and call the gateway again.
    assert sms.calls == 1


def test_a_sent_code_is_a_task_success(
    redis_url: str, sms: InMemoryProvider, runtimes: list[Runtime]
) -> None:
    verification_id, result, rt = run_task(make_settings(redis_url), sms, PHONE)
    runtimes.append(rt)
    assert result.state == "SUCCESS" and result.result == "sent"  # type: ignore[attr-defined]
    assert get_status(verification_id, runtime=rt).state == "sent"


def test_an_unsafe_code_never_becomes_the_exception_text() -> None:
    assert str(SendFailed("auth_failed")) == "auth_failed"
    assert str(SendFailed("Неверный логин +79001234567")) == "send_failed"
    assert str(SendFailed(None)) == "send_failed"
