"""The composition root (worker.runtime): what a Runtime builds from its settings, what it takes
as given, and the process-wide one. No Redis is reached: a Store connects on first use."""

from __future__ import annotations

import threading

import pytest
from helpers import make_settings

import worker.runtime
from worker.providers.memory import InMemoryProvider
from worker.providers.targetsms import TargetSMSClient
from worker.runtime import Runtime, get_runtime, set_runtime
from worker.settings import RETRY_MAX_DELAY, SettingsError

NOWHERE = "redis://127.0.0.1:1/0"  # never connected to: nothing here talks to Redis


@pytest.fixture
def forget_process_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process runtime for the test; the one before it (the session's producer, when a
    test on this worker already set it up) comes back afterwards, so no later test meets none."""
    monkeypatch.setattr(worker.runtime, "_runtime", None)


def test_without_a_provider_it_builds_one_targetsms_client_from_the_settings() -> None:
    settings = make_settings(
        NOWHERE, TARGETSMS_SENDER="shop", TARGETSMS_DUPLICATE_WINDOW_SECONDS=45
    )
    rt = Runtime.from_settings(settings)
    built: list[object] = []
    threads = [threading.Thread(target=lambda: built.append(rt.provider)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = built[0]
    assert isinstance(client, TargetSMSClient)
    assert all(b is client for b in built)  # one client (one connection pool) per runtime
    assert rt.provider is client
    rt.close()


def test_a_given_provider_is_used_as_it_is_and_closed_with_the_runtime() -> None:
    sms = InMemoryProvider()
    rt = Runtime.from_settings(make_settings(NOWHERE), provider=sms)
    assert rt.provider is sms
    rt.close()  # closes the provider and the store's client; neither raises when idle


def test_retry_policy_and_timeouts_follow_the_settings() -> None:
    settings = make_settings(
        NOWHERE, OTP_SEND_MAX_ATTEMPTS=3, TARGETSMS_CONNECT_TIMEOUT=0.7, TARGETSMS_READ_TIMEOUT=4
    )
    rt = Runtime.from_settings(settings)
    assert rt.retry_policy.max_attempts == 3 and rt.retry_policy.max_delay == RETRY_MAX_DELAY
    assert (rt.timeout.connect, rt.timeout.read) == (0.7, 4)
    assert rt.secret == settings.secret and rt.pseudonym_secret == settings.pseudonym_secret


def test_its_repr_names_no_secret() -> None:
    settings = make_settings(NOWHERE)
    rt = Runtime.from_settings(settings, provider=InMemoryProvider())
    text = repr(rt)
    assert settings.gateway.password not in text
    assert settings.codes.secret_key not in text


def test_the_process_runtime_is_built_once_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, forget_process_runtime: None
) -> None:
    for name, value in make_settings(NOWHERE).to_env().items():
        monkeypatch.setenv(name, value)
    first = get_runtime()
    assert first.settings.redis_url == NOWHERE
    assert get_runtime() is first
    mine = Runtime.from_settings(make_settings(NOWHERE), provider=InMemoryProvider())
    set_runtime(mine)
    assert get_runtime() is mine


def test_bad_settings_in_the_environment_raise_one_error_naming_each(
    monkeypatch: pytest.MonkeyPatch, forget_process_runtime: None
) -> None:
    for name, value in make_settings(NOWHERE).to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTP_CODE_LENGTH", "3")
    monkeypatch.setenv("OTP_TTL_SECONDS", "nope")
    with pytest.raises(SettingsError) as raised:
        get_runtime()
    assert "OTP_CODE_LENGTH" in str(raised.value) and "OTP_TTL_SECONDS" in str(raised.value)
    assert "nope" not in str(raised.value)  # the value is not echoed
