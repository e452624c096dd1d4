"""The HTTP API over a real loopback server, on a real Redis and broker (the sends are queued
on the test Redis; no worker runs here: tests/e2e/test_api_pipeline.py runs the whole path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from api_helpers import make_key, serving_api
from helpers import make_settings, raw_redis

from worker.ops.stats import read_stats
from worker.runtime import Runtime
from worker.settings import Settings

PHONE = "+79161112233"
IP = "203.0.113.7"
OPENAPI_FILE = Path(__file__).parents[2] / "worker" / "web" / "api" / "openapi.json"


@pytest.fixture
def api(runtime: Runtime) -> Iterator[str]:
    with serving_api(runtime) as url:
        yield url


def _post(url: str, key: str | None, body: object, **headers: str) -> requests.Response:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(url, data=json.dumps(body), headers=headers, timeout=10)


def _get(url: str, key: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(url, headers=headers, timeout=10)


def test_create_is_201_and_status_never_shows_the_code(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    r = _post(f"{api}/v1/verifications", key, {"phone": PHONE, "client_ip": IP})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"] == "application/json"
    made = r.json()
    assert made["state"] == "queued" and made["created"] is True
    status = _get(f"{api}/v1/verifications/{made['id']}", key)
    assert status.status_code == 200
    assert status.json()["id"] == made["id"] and status.json()["state"] == "queued"
    assert "code" not in status.text and "code_hmac" not in status.text


def test_no_key_or_a_wrong_one_is_the_same_401(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    answers = [
        _post(f"{api}/v1/verifications", None, {"phone": PHONE, "client_ip": IP}),
        _post(f"{api}/v1/verifications", key[:-1] + "x", {"phone": PHONE, "client_ip": IP}),
        requests.post(
            f"{api}/v1/verifications",
            json={"phone": PHONE, "client_ip": IP},
            headers={"Authorization": f"Basic {key}"},
            timeout=10,
        ),
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1
    assert answers[0].headers["WWW-Authenticate"] == "Bearer"


def test_another_keys_verification_is_404_for_every_call(api: str, runtime: Runtime) -> None:
    mine, _ = make_key(runtime, "shop")
    theirs, _ = make_key(runtime, "blog")
    made = _post(f"{api}/v1/verifications", mine, {"phone": PHONE, "client_ip": IP}).json()
    base = f"{api}/v1/verifications/{made['id']}"
    answers = [
        _get(base, theirs),
        _post(f"{base}/check", theirs, {"code": "123456", "client_ip": IP}),
        _post(f"{base}/resend", theirs, {"client_ip": IP}),
        _post(f"{base}/cancel", theirs, {}),
    ]
    assert [r.status_code for r in answers] == [404] * 4
    unknown = _get(f"{api}/v1/verifications/{made['id'][:-2]}zz", theirs)
    assert unknown.status_code == 404 and unknown.text == answers[0].text
    # Nothing was spent or changed by the other key.
    assert _get(base, mine).json()["state"] == "queued"
    assert _get(base, mine).json()["attempts_left"] == runtime.settings.codes.max_attempts


def test_idempotency_key_replays_per_key_only(api: str, runtime: Runtime) -> None:
    a, _ = make_key(runtime, "shop")
    b, _ = make_key(runtime, "blog")
    body = {"phone": PHONE, "client_ip": IP}
    first = _post(f"{api}/v1/verifications", a, body, **{"Idempotency-Key": "order-1"}).json()
    again = _post(f"{api}/v1/verifications", a, body, **{"Idempotency-Key": "order-1"}).json()
    other = _post(f"{api}/v1/verifications", b, body, **{"Idempotency-Key": "order-1"}).json()
    assert again["id"] == first["id"] and again["created"] is False
    assert other["id"] != first["id"] and other["created"] is True


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"client_ip": IP}, "invalid_request"),
        ({"phone": PHONE}, "invalid_request"),
        ({"phone": 79001234567, "client_ip": IP}, "invalid_request"),
        ({"phone": PHONE, "client_ip": "not-an-ip"}, "invalid_ip"),
        ({"phone": "12", "client_ip": IP}, "invalid_phone"),
        ([PHONE], "invalid_request"),
    ],
)
def test_bad_input_is_400_with_error_and_message(
    api: str, runtime: Runtime, body: object, error: str
) -> None:
    key, _ = make_key(runtime, "shop")
    r = _post(f"{api}/v1/verifications", key, body)
    assert r.status_code == 400
    assert r.json()["error"] == error and r.json()["message"]
    assert PHONE not in r.text


def test_junk_and_oversize_bodies_are_json_answers(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    auth = {"Authorization": f"Bearer {key}"}
    junk = requests.post(f"{api}/v1/verifications", data=b"{[", headers=auth, timeout=10)
    deep = requests.post(f"{api}/v1/verifications", data=b"[" * 10000, headers=auth, timeout=10)
    big = requests.post(
        f"{api}/v1/verifications", data=b" " * (17 * 1024), headers=auth, timeout=10
    )
    assert (junk.status_code, deep.status_code, big.status_code) == (400, 400, 413)
    assert big.json()["error"] == "too_large"
    nowhere = _get(f"{api}/v2/whatever", key)
    wrong_method = requests.delete(f"{api}/v1/verifications", headers=auth, timeout=10)
    assert nowhere.status_code == 404 and nowhere.json()["error"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


def test_check_answers_the_verdict_fields(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    made = _post(f"{api}/v1/verifications", key, {"phone": PHONE, "client_ip": IP}).json()
    r = _post(f"{api}/v1/verifications/{made['id']}/check", key, {"code": "1", "client_ip": IP})
    assert r.status_code == 200
    assert r.json() == {
        "ok": False,
        "reason": "not_sent_yet",
        "attempts_left": runtime.settings.codes.max_attempts,
        "retry_after": None,
        "phone": None,
    }
    bad_ip = _post(f"{api}/v1/verifications/{made['id']}/check", key, {"code": "1"})
    assert bad_ip.status_code == 400


def test_cancel_then_resend_is_409(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    made = _post(f"{api}/v1/verifications", key, {"phone": PHONE, "client_ip": IP}).json()
    base = f"{api}/v1/verifications/{made['id']}"
    canceled = _post(f"{base}/cancel", key, {})
    assert canceled.status_code == 200
    assert canceled.json() == {"id": made["id"], "state": "canceled", "canceled": True}
    again = _post(f"{base}/resend", key, {"client_ip": IP})
    assert again.status_code == 409 and again.json()["error"] == "not_allowed"


def test_a_keys_own_budget_is_429_with_retry_after_and_spares_other_keys(
    api: str, runtime: Runtime
) -> None:
    leaked, _ = make_key(runtime, "leaked", per_hour=2)
    other, _ = make_key(runtime, "other", per_hour=2)
    answers = [
        _post(f"{api}/v1/verifications", leaked, {"phone": f"+7900123450{i}", "client_ip": IP})
        for i in range(3)
    ]
    assert [r.status_code for r in answers] == [201, 201, 429]
    assert answers[2].json()["error"] == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) > 0
    fine = _post(f"{api}/v1/verifications", other, {"phone": "+79001234599", "client_ip": IP})
    assert fine.status_code == 201
    stats = read_stats(runtime.store)["last_hour"]["api_keys"]
    assert stats["leaked"] == {"created": 2, "refused:rate_limited": 1}
    assert stats["other"] == {"created": 1}


def test_each_outcome_is_counted_for_the_key_that_owns_the_verification(
    api: str, runtime: Runtime
) -> None:
    key, _ = make_key(runtime, "shop")
    body = {"phone": PHONE, "client_ip": IP}
    made = _post(f"{api}/v1/verifications", key, body, **{"Idempotency-Key": "order-1"}).json()
    _post(f"{api}/v1/verifications", key, body, **{"Idempotency-Key": "order-1"})
    item = f"{api}/v1/verifications/{made['id']}"
    checked = _post(f"{item}/check", key, {"code": "123456", "client_ip": IP}).json()
    resent = _post(f"{item}/resend", key, {"client_ip": IP}).json()
    assert resent["created"] is False  # its first send is still within its deadline
    stats = read_stats(runtime.store)["last_hour"]["api_keys"]
    assert stats == {
        "shop": {
            "created": 1,
            "replayed": 1,
            f"verify:{checked['reason']}": 1,
            "resend_in_flight": 1,
        }
    }


def test_revoked_key_is_401_at_once(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    made = _post(f"{api}/v1/verifications", key, {"phone": PHONE, "client_ip": IP})
    assert made.status_code == 201
    assert runtime.store.revoke_api_key("shop")
    assert _get(f"{api}/v1/verifications/{made.json()['id']}", key).status_code == 401
    stored = raw_redis(runtime).keys(f"{runtime.settings.redis_prefix}ak*")
    assert stored == []


def test_only_the_digest_is_stored(api: str, runtime: Runtime) -> None:
    key, _ = make_key(runtime, "shop")
    r = raw_redis(runtime)
    prefix = runtime.settings.redis_prefix
    everything = json.dumps(
        {k: r.hgetall(k) if r.type(k) == "hash" else str(r.get(k)) for k in r.keys(f"{prefix}ak*")
         if r.type(k) in ("hash", "string")}
    )  # fmt: skip
    assert key not in everything and key[4:] not in everything


def test_openapi_served_is_the_committed_file(api: str) -> None:
    r = requests.get(f"{api}/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.content == OPENAPI_FILE.read_bytes()
    assert r.json()["openapi"].startswith("3.1")


def test_redis_away_is_503_and_nothing_spent(settings: Settings, sandbox: object) -> None:
    dead = settings.replace(REDIS_URL="redis://127.0.0.1:9/0")
    rt = Runtime.from_settings(dead)
    with serving_api(rt) as url:
        r = _post(f"{url}/v1/verifications", "tsk_" + "x" * 43, {"phone": PHONE, "client_ip": IP})
    assert r.status_code == 503 and r.json()["error"] == "unavailable"
    assert r.headers["Retry-After"]
    assert "127.0.0.1" not in r.text


def test_broker_away_is_503_and_the_budget_given_back(redis_url: str, sandbox: object) -> None:
    from helpers import Sandbox

    assert isinstance(sandbox, Sandbox)
    from celery import Celery

    from worker.queue.celery_app import CeleryQueue, celery_config

    s = make_settings(redis_url, sandbox, CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    celery = Celery("api-test")
    celery.conf.update(celery_config(s))
    rt = Runtime.from_settings(s, queue=CeleryQueue(celery, max_countdown_seconds=5))
    key, _ = make_key(rt, "shop", per_hour=1)
    with serving_api(rt) as url:
        first = _post(f"{url}/v1/verifications", key, {"phone": PHONE, "client_ip": IP})
        second = _post(f"{url}/v1/verifications", key, {"phone": PHONE, "client_ip": IP})
    assert (first.status_code, second.status_code) == (503, 503)  # not 429: nothing was spent


def test_per_key_counters_reach_the_metrics_exporter(api: str, runtime: Runtime) -> None:
    from worker.ops.metrics import TargetSMSCollector

    key, _ = make_key(runtime, "shop")
    _post(f"{api}/v1/verifications", key, {"phone": PHONE, "client_ip": IP})
    _post(f"{api}/v1/verifications", key, {"phone": "12", "client_ip": IP})
    samples = {
        (s.labels["key"], s.labels["outcome"]): s.value
        for family in TargetSMSCollector(runtime, balance_interval=3600).collect()
        for s in family.samples
        if s.name == "targetsms_api_key_requests_total"
    }
    assert samples == {("shop", "created"): 1.0, ("shop", "refused:invalid_phone"): 1.0}


def test_pipelined_requests_on_one_connection_are_answered_whole_and_in_order(
    api: str, runtime: Runtime
) -> None:
    """Requests sent back to back on one kept-alive connection (as bench/api.py's client and a
    site's curl handle keep it) get whole answers, in order, the long OpenAPI document (past
    waitress' 18,000-byte send buffer) among them."""
    import socket

    key, _ = make_key(runtime, "shop")
    host, port = api.removeprefix("http://").rsplit(":", 1)
    body = json.dumps({"phone": PHONE, "client_ip": IP})
    create = (
        f"POST /v1/verifications HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )
    document = f"GET /openapi.json HTTP/1.1\r\nHost: {host}\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((create + document + create).encode())
        stream = sock.makefile("rb")
        answers = []
        for _ in range(3):  # status line, headers, then Content-Length bytes of body
            status = int(stream.readline().split()[1])
            headers = dict(line.decode().split(":", 1) for line in iter(stream.readline, b"\r\n"))
            length = int({k.lower(): v for k, v in headers.items()}["content-length"])
            answers.append((status, stream.read(length)))
    assert [status for status, _ in answers] == [201, 200, 201]
    assert answers[1][1] == OPENAPI_FILE.read_bytes() and len(answers[1][1]) > 18_000
    first, second = (json.loads(answers[i][1]) for i in (0, 2))
    assert first["id"] != second["id"] and first["state"] == second["state"] == "queued"
