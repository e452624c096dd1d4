"""The ``send_code`` task itself, run in-process (Celery's apply) on a real Redis and the
sandbox: a send that ends ``failed`` is a task FAILURE whose exception is the stable error code
and nothing more, and Celery does not retry it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import LOGIN, PASSWORD, Sandbox, make_settings

# The module, not the task: pytest's collection would evaluate Celery's task proxy (and so the
# app's configuration) before the session runtime exists.
from tasks import send as send_module
from tasks.send import SendFailed
from worker import get_status, request_code
from worker.runtime import Runtime, get_runtime, set_runtime
from worker.settings import Settings

STOP_LISTED = "+79990000205"  # the sandbox answers this number with a failed initial status


def run_task(settings: Settings, phone: str) -> tuple[str, object, Runtime]:
    rt = Runtime.from_settings(settings)
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
    ("overrides", "phone", "code"),
    [
        ({"TARGETSMS_PASSWORD": PASSWORD + "-wrong"}, "+79001234567", "auth_failed"),
        ({}, STOP_LISTED, "phone_stop_listed"),
    ],
    ids=["auth_failed", "delivery_failed"],
)
def test_a_failed_send_is_a_task_failure_with_the_code_only(
    redis_url: str,
    sandbox: Sandbox,
    runtimes: list[Runtime],
    overrides: dict[str, str],
    phone: str,
    code: str,
) -> None:
    verification_id, result, rt = run_task(make_settings(redis_url, sandbox, **overrides), phone)
    runtimes.append(rt)
    assert get_status(verification_id, runtime=rt).state == "failed"
    assert result.state == "FAILURE"  # type: ignore[attr-defined]
    exc = result.result  # type: ignore[attr-defined]
    assert isinstance(exc, SendFailed) and str(exc) == code
    assert repr(exc) == f"SendFailed('{code}')"
    for secret in (LOGIN, PASSWORD, phone, phone[1:]):
        assert secret not in repr(exc) and secret not in str(result.traceback)  # type: ignore[attr-defined]
    # Not retried: a retry would leave the task in RETRY and call the gateway again.
    assert sandbox.stats()["password_generation"] == 1


def test_a_sent_code_is_a_task_success(
    redis_url: str, sandbox: Sandbox, runtimes: list[Runtime]
) -> None:
    verification_id, result, rt = run_task(make_settings(redis_url, sandbox), "+79001234567")
    runtimes.append(rt)
    assert result.state == "SUCCESS" and result.result == "sent"  # type: ignore[attr-defined]
    assert get_status(verification_id, runtime=rt).state == "sent"


def test_an_unsafe_code_never_becomes_the_exception_text() -> None:
    assert str(SendFailed("auth_failed")) == "auth_failed"
    assert str(SendFailed("Неверный логин +79001234567")) == "send_failed"
    assert str(SendFailed(None)) == "send_failed"
