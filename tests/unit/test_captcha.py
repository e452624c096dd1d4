"""Captcha verifiers against a loopback stand-in for each provider's verify endpoint.

Real HTTP over 127.0.0.1: the stand-in checks the secret and the token the way the providers
document it, answers according to the token's kind (the part before the first dot), and
records what reached it so tests can assert parameter names and the method.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from captcha_standin import SECRET, SLOW, StandIn, token
from helpers import refused_port

from worker.captcha import (
    DEFAULT_VERIFY_URLS,
    MAX_TOKEN_LENGTH,
    PROVIDERS,
    CaptchaResult,
    CaptchaVerifier,
    _HTTPVerifier,
    make_verifier,
)

FAST = 0.1  # seconds: the timeout used where the stand-in is made to stall
# Stalling kinds run into FAST; the other failures answer at once and get a generous timeout, so
# a loaded machine cannot turn them into timeouts.
STALLS = ("slow", "slowbody")


@pytest.fixture(scope="module")
def stand_in_server() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def stand_in(stand_in_server: StandIn) -> StandIn:
    stand_in_server.clear()
    return stand_in_server


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def verifier(
    stand_in: StandIn, provider: str, *, timeout: float = 2.0, **kwargs: Any
) -> CaptchaVerifier:
    return make_verifier(
        provider, SECRET, verify_url=stand_in.url(provider), timeout=timeout, **kwargs
    )


TOKEN_PARAM = {"yandex": "token", "recaptcha": "response", "hcaptcha": "response"}
IP_PARAM = {"yandex": "ip"}


def token_param(provider: str) -> str:
    return TOKEN_PARAM.get(provider, "response")


def ip_param(provider: str) -> str:
    return IP_PARAM.get(provider, "remoteip")


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """This module's records; urllib3's DEBUG lines are captured too, for the leak checks."""
    return [r for r in caplog.records if r.name == "targetsms.captcha"]


def assert_no_secrets(caplog: pytest.LogCaptureFixture, *tokens: str) -> None:
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert SECRET not in text
    assert "s3cr3t" not in text
    for t in tokens:
        assert t not in text
        assert t.split(".", 1)[1] not in text


# -- valid and invalid ------------------------------------------------------------------------


def test_good_token_passes_and_the_documented_parameters_reach_the_provider(
    stand_in: StandIn, provider: str
) -> None:
    t = token("good")
    result = verifier(stand_in, provider).verify(t, remote_ip="203.0.113.7")

    assert result == CaptchaResult(ok=True, reason="ok", score=None)
    [got] = stand_in.received
    assert got.method == "POST"
    assert got.path == f"/{provider}/verify"
    assert got.content_type == "application/x-www-form-urlencoded"
    assert got.query == {}, "secret and token must not travel in the URL"
    assert got.form == {
        "secret": SECRET,
        token_param(provider): t,
        ip_param(provider): "203.0.113.7",
    }


def test_bad_token_is_invalid(stand_in: StandIn, provider: str, captured: Any) -> None:
    t = token("bad")
    result = verifier(stand_in, provider).verify(t)

    assert result == CaptchaResult(ok=False, reason="invalid")
    [got] = stand_in.received
    assert ip_param(provider) not in got.form
    assert ours(captured) == [], "a user's bad token is not a provider failure"


def test_invalid_stays_refused_even_with_fail_open(stand_in: StandIn, provider: str) -> None:
    result = verifier(stand_in, provider, fail_open=True).verify(token("bad"))
    assert result == CaptchaResult(ok=False, reason="invalid")


def test_wrong_secret_is_invalid_and_warns_about_configuration(
    stand_in: StandIn, provider: str, captured: Any
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    v = make_verifier(provider, wrong, verify_url=stand_in.url(provider))
    t = token("good")

    assert v.verify(t) == CaptchaResult(ok=False, reason="invalid")
    [record] = ours(captured)
    assert record.levelno == logging.WARNING
    assert provider in record.getMessage() and "secret" in record.getMessage()
    assert wrong not in captured.text
    assert_no_secrets(captured, t)


def test_a_refusal_on_an_error_status_is_still_a_refusal(stand_in: StandIn, provider: str) -> None:
    assert verifier(stand_in, provider).verify(token("bad400")) == CaptchaResult(False, "invalid")


def test_a_yes_on_an_error_status_is_not_trusted(stand_in: StandIn, provider: str) -> None:
    v = verifier(stand_in, provider)
    assert v.verify(token("yes403")) == CaptchaResult(False, "unavailable")


def test_redirects_are_not_followed(stand_in: StandIn, provider: str) -> None:
    result = verifier(stand_in, provider).verify(token("redirect"))

    assert result == CaptchaResult(False, "unavailable")
    assert [r.path for r in stand_in.received] == [f"/{provider}/verify"]


@pytest.mark.parametrize("bad_ip", [None, "", "not-an-ip", "10.0.0.1, 10.0.0.2"])
def test_missing_or_unusable_ip_is_left_out(
    stand_in: StandIn, provider: str, bad_ip: str | None
) -> None:
    assert verifier(stand_in, provider).verify(token("good"), remote_ip=bad_ip).ok
    [got] = stand_in.received
    assert ip_param(provider) not in got.form


def test_ipv6_ip_is_passed_normalised(stand_in: StandIn, provider: str) -> None:
    assert verifier(stand_in, provider).verify(token("good"), remote_ip=" 2001:DB8::1 ").ok
    assert stand_in.received[0].form[ip_param(provider)] == "2001:db8::1"


# -- tokens refused without a call ------------------------------------------------------------


@pytest.mark.parametrize("bad_token", ["", "   ", "x" * (MAX_TOKEN_LENGTH + 1)])
def test_empty_or_oversized_token_is_invalid_without_a_call(
    stand_in: StandIn, provider: str, bad_token: str
) -> None:
    result = verifier(stand_in, provider).verify(bad_token, remote_ip="203.0.113.7")

    assert result == CaptchaResult(ok=False, reason="invalid")
    assert stand_in.received == []


def test_token_at_the_length_limit_is_sent(stand_in: StandIn, provider: str) -> None:
    t = "good." + "x" * (MAX_TOKEN_LENGTH - 5)
    assert verifier(stand_in, provider).verify(t).ok
    assert len(stand_in.received) == 1


# -- reCAPTCHA scores -------------------------------------------------------------------------


def test_recaptcha_v3_score_above_threshold_passes(stand_in: StandIn) -> None:
    result = verifier(stand_in, "recaptcha").verify(token("v3good"))
    assert result == CaptchaResult(ok=True, reason="ok", score=0.9)


def test_recaptcha_v3_score_at_threshold_passes(stand_in: StandIn) -> None:
    result = verifier(stand_in, "recaptcha", min_score=0.5).verify(token("edgescore"))
    assert result == CaptchaResult(ok=True, reason="ok", score=0.5)


def test_recaptcha_v3_low_score_is_refused_even_with_fail_open(
    stand_in: StandIn, captured: Any
) -> None:
    v = verifier(stand_in, "recaptcha", fail_open=True)
    assert v.verify(token("lowscore")) == CaptchaResult(ok=False, reason="low_score", score=0.1)
    assert ours(captured) == []


def test_recaptcha_threshold_is_configurable(stand_in: StandIn) -> None:
    v = verifier(stand_in, "recaptcha", min_score=0.95)
    assert v.verify(token("v3good")) == CaptchaResult(ok=False, reason="low_score", score=0.9)
    v = verifier(stand_in, "recaptcha", min_score=0.0)
    assert v.verify(token("lowscore")) == CaptchaResult(ok=True, reason="ok", score=0.1)


def test_recaptcha_v2_answer_without_score_passes(stand_in: StandIn) -> None:
    v = verifier(stand_in, "recaptcha", min_score=0.99)
    assert v.verify(token("good")) == CaptchaResult(ok=True, reason="ok", score=None)


@pytest.mark.parametrize("kind", ["badscore", "nanscore"])
def test_recaptcha_unusable_score_is_malformed(stand_in: StandIn, kind: str) -> None:
    assert verifier(stand_in, "recaptcha").verify(token(kind)) == CaptchaResult(False, "malformed")


def test_recaptcha_refusal_with_unusable_score_is_still_a_refusal(stand_in: StandIn) -> None:
    v = verifier(stand_in, "recaptcha", fail_open=True)
    assert v.verify(token("badodd")) == CaptchaResult(False, "invalid")


@pytest.mark.parametrize("name", ["hcaptcha", "turnstile"])
def test_score_is_not_thresholded_for_other_siteverify_providers(
    stand_in: StandIn, name: str
) -> None:
    assert verifier(stand_in, name, min_score=0.9).verify(token("lowscore")) == CaptchaResult(
        True, "ok"
    )


# -- provider failures: fail closed by default, fail open on request ---------------------------

# Answers that come at once, tried against every provider: each reads them its own way.
ANSWERS = [
    ("html", "unavailable"),
    ("s503", "unavailable"),
    ("junk", "malformed"),
    ("array", "malformed"),
    ("wrongtype", "malformed"),
    ("huge", "malformed"),
]
# The stalls time the one request path every provider shares (``_HTTPVerifier._post``): each
# runs once, on a provider of its own, instead of once per provider at 0.1-0.2 s of real time
# each. Between the tests below every provider meets a stall.
FAILURES = [(p, kind, reason) for p in PROVIDERS for kind, reason in ANSWERS] + [
    ("yandex", "slow", "timeout"),
    ("recaptcha", "slowbody", "timeout"),
]
FAILURES_OPEN = [(p, kind, reason) for p in PROVIDERS for kind, reason in ANSWERS] + [
    ("hcaptcha", "slow", "timeout"),
    ("turnstile", "slowbody", "timeout"),
]


@pytest.mark.parametrize(("provider", "kind", "reason"), FAILURES)
def test_provider_failure_fails_closed_by_default(
    stand_in: StandIn, provider: str, kind: str, reason: str, captured: Any
) -> None:
    t = token(kind)
    started = time.monotonic()
    timeout = FAST if kind in STALLS else 2.0
    result = verifier(stand_in, provider, timeout=timeout).verify(t, remote_ip="203.0.113.7")
    elapsed = time.monotonic() - started

    assert result == CaptchaResult(ok=False, reason=reason)
    assert elapsed < SLOW / 2, "the user must not wait for the provider past the timeout"
    assert len(stand_in.received) == 1, "no retries"
    [record] = ours(captured)
    assert record.name == "targetsms.captcha"
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"captcha provider {provider} failed: {reason}"
    assert_no_secrets(captured, t)


@pytest.mark.parametrize(("provider", "kind", "reason"), FAILURES_OPEN)
def test_provider_failure_passes_with_fail_open_and_keeps_the_reason(
    stand_in: StandIn, provider: str, kind: str, reason: str, captured: Any
) -> None:
    t = token(kind)
    timeout = FAST if kind in STALLS else 2.0
    result = verifier(stand_in, provider, timeout=timeout, fail_open=True).verify(t)

    assert result == CaptchaResult(ok=True, reason=reason)
    assert len(ours(captured)) == 1
    assert_no_secrets(captured, t)


@pytest.mark.parametrize("provider", ["turnstile", "yandex"])
def test_trickling_answer_is_cut_at_the_overall_deadline(stand_in: StandIn, provider: str) -> None:
    """Each gap (0.05 s) is under the read timeout (0.2 s); the whole (4 s) is not."""
    started = time.monotonic()
    result = verifier(stand_in, provider, timeout=0.2).verify(token("trickle"))
    elapsed = time.monotonic() - started

    assert result == CaptchaResult(ok=False, reason="timeout")
    assert elapsed < 2.5


@pytest.mark.parametrize("provider", ["recaptcha", "hcaptcha"])
def test_dribbled_headers_are_cut_at_the_overall_deadline(stand_in: StandIn, provider: str) -> None:
    """A provider that sends its status line and headers a byte every 50 ms (about 4 s in all)
    is cut at the timeout: the per-read timeout alone would wait for all of it."""
    started = time.monotonic()
    result = verifier(stand_in, provider, timeout=0.2).verify(token("tricklehead"))
    elapsed = time.monotonic() - started

    assert result == CaptchaResult(ok=False, reason="timeout")
    assert elapsed < 2.5, elapsed


def test_every_provider_shares_the_timed_request_path() -> None:
    """The stall tests above give each stall to one provider: that covers them all only while
    no provider has a request path of its own."""
    for name in PROVIDERS:
        cls = type(make_verifier(name, SECRET))
        assert cls._post is _HTTPVerifier._post and cls._post_within is _HTTPVerifier._post_within


@pytest.fixture(scope="module")
def closed_port() -> int:
    return refused_port()


@pytest.mark.parametrize("fail_open", [False, True])
def test_connection_refused_is_unavailable(
    provider: str, closed_port: int, fail_open: bool, captured: Any
) -> None:
    v = make_verifier(
        provider,
        SECRET,
        verify_url=f"http://127.0.0.1:{closed_port}/{provider}/verify",
        timeout=FAST,
        fail_open=fail_open,
    )
    t = token("good")

    assert v.verify(t, remote_ip="203.0.113.7") == CaptchaResult(ok=fail_open, reason="unavailable")
    assert [r.getMessage() for r in ours(captured)] == [
        f"captcha provider {provider} failed: unavailable"
    ]
    assert_no_secrets(captured, t)


# -- secrets stay out of logs, reprs and error messages -----------------------------------------


def test_nothing_secret_is_logged_across_every_outcome(
    stand_in: StandIn, provider: str, captured: Any
) -> None:
    v = verifier(stand_in, provider, timeout=FAST)
    tokens = [token(k) for k in ("good", "bad", "html", "junk", "slow", "bad400", "redirect")]
    for t in tokens:
        v.verify(t, remote_ip="203.0.113.7")
    assert len(ours(captured)) >= 4
    assert_no_secrets(captured, *tokens)


def test_repr_does_not_show_the_secret(stand_in: StandIn, provider: str) -> None:
    text = repr(verifier(stand_in, provider)) + str(verifier(stand_in, provider))
    assert SECRET not in text and "s3cr3t" not in text
    assert provider in text


# -- construction ----------------------------------------------------------------------------


def test_default_urls_are_the_official_https_ones() -> None:
    assert DEFAULT_VERIFY_URLS == {
        "yandex": "https://smartcaptcha.yandexcloud.net/validate",
        "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
        "hcaptcha": "https://api.hcaptcha.com/siteverify",
        "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    }
    assert tuple(DEFAULT_VERIFY_URLS) == PROVIDERS


def test_make_verifier_builds_every_provider_without_network(provider: str) -> None:
    v = make_verifier(provider, SECRET)
    assert v.name == provider
    assert DEFAULT_VERIFY_URLS[provider] in repr(v)


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown captcha provider 'recapcha'.*yandex"):
        make_verifier("recapcha", SECRET)


@pytest.mark.parametrize("secret", ["", "   "])
def test_empty_secret_is_refused(provider: str, secret: str) -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        make_verifier(provider, secret)


@pytest.mark.parametrize(
    "url",
    [
        "http://captcha.example.com/validate",
        "http://10.0.0.5/validate",
        "ftp://127.0.0.1/validate",
        "https:///validate",
        "https://user:pw@captcha.example.com/validate",
        "https://captcha.example.com/validate?secret=x",
        "not a url",
    ],
)
def test_unsafe_or_broken_verify_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="verify_url") as err:
        make_verifier("yandex", SECRET, verify_url=url)
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://captcha.example.com/validate",
        "http://127.0.0.1:8080/v",
        "http://127.5.6.7/v",
        "http://localhost/v",
        "http://[::1]:8080/v",
    ],
)
def test_https_or_loopback_http_verify_url_is_accepted(url: str) -> None:
    assert make_verifier("turnstile", SECRET, verify_url=url).name == "turnstile"


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_timeout_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        make_verifier("recaptcha", SECRET, timeout=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_min_score_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="min_score"):
        make_verifier("recaptcha", SECRET, min_score=bad)


# -- the HTTP session ------------------------------------------------------------------------


def test_default_session_ignores_proxy_environment(
    stand_in: StandIn, provider: str, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    assert verifier(stand_in, provider).verify(token("good")).ok


def test_caller_session_is_used(stand_in: StandIn, provider: str) -> None:
    calls: list[str] = []

    class CountingSession(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *a: Any, **kw: Any) -> Any:
            calls.append(str(method))
            return super().request(method, url, *a, **kw)

    with CountingSession() as session:
        session.trust_env = False
        v = verifier(stand_in, provider, session=session)
        assert v.verify(token("good")).ok
    assert calls == ["POST"]


def test_connections_are_reused(stand_in: StandIn, provider: str) -> None:
    v = verifier(stand_in, provider)
    for kind in ["good", "bad", "good", "bad400", "good"]:
        v.verify(token(kind))
    assert len({r.peer for r in stand_in.received}) == 1, "one pooled keep-alive connection"


def test_concurrent_checks_share_the_pool(stand_in: StandIn, provider: str) -> None:
    # Sixteen checks at once on a loaded machine can take longer than the usual 2 s: the limit
    # is not what this test is about (the stall tests are), so it is far off.
    v = verifier(stand_in, provider, timeout=30)
    results: list[CaptchaResult] = []
    lock = threading.Lock()

    def check(kind: str) -> None:
        r = v.verify(token(kind))
        with lock:
            results.append(r)

    threads = [threading.Thread(target=check, args=(k,)) for k in ["good", "bad"] * 8]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.reason for r in results) == ["invalid"] * 8 + ["ok"] * 8
