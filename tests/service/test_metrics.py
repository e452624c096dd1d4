"""The metrics exporter against a real Redis, real sends through the sandbox and real brokers:
the counts it serves are the ones the producer API and the worker's functions made."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from helpers import Sandbox, make_settings, raw_redis, refused_port, wait_until
from kombu import Connection, Exchange, Queue
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from worker import RequestRefused, get_status, request_code, verify_code
from worker.dev.devstack import free_port
from worker.ops.metrics import TargetSMSCollector, metric_names, queue_depths, serve
from worker.queue.names import SEND_QUEUE
from worker.runtime import Runtime
from worker.steps.polling import poll_due
from worker.steps.sending import send_verification

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def rt(redis_url: str, sandbox: Sandbox) -> Iterator[Runtime]:
    settings = make_settings(
        redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=60, OTP_BALANCE_ALERT_BELOW=250.5
    )
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def exporter() -> Iterator[Callable[[Runtime], str]]:
    """Serve a runtime's metrics on a loopback port, as ``targetsms metrics`` does."""
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(runtime: Runtime) -> str:
        port, stop = free_port(), threading.Event()
        thread = threading.Thread(
            target=serve, args=(runtime, "127.0.0.1", port), kwargs={"stop": stop}, daemon=True
        )
        thread.start()
        stops.append((stop, thread))
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: _answers(url), 10, "the exporter to listen")
        return url

    yield start
    for stop, thread in stops:
        stop.set()
        thread.join(10)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(response.text)


def sent(rt: Runtime, phone: str) -> str:
    req = request_code(phone, runtime=rt)
    assert send_verification(rt, req.id).result == "sent"
    return req.id


def test_exporter_serves_the_counts_real_requests_made(
    rt: Runtime, sandbox: Sandbox, exporter: Callable[[Runtime], str]
) -> None:
    url = exporter(rt)
    before = scrape(url)
    depth_before = value(before, "targetsms_queue_depth", queue=SEND_QUEUE) or 0.0
    assert value(before, "targetsms_sms_sent_total") == 0
    assert value(before, "targetsms_conversion_ratio") is None  # nothing sent: no ratio, no NaN

    ok_id = sent(rt, "+79001110001")
    wrong_id = sent(rt, "+79001110002")
    pending = sent(rt, "+79001110003")
    assert verify_code(ok_id, sandbox.last_code("+79001110001"), runtime=rt).ok
    assert verify_code(wrong_id, "000000", runtime=rt).reason == "wrong"
    assert verify_code(ok_id, "000000", runtime=rt).reason == "already_used"
    # Two failed sends with stable codes, one of them with an initial delivery status.
    failed = request_code("+79990000001", runtime=rt)  # initial status not_valid_phone
    assert send_verification(rt, failed.id).result == "failed"
    broke = request_code("+79990000202", runtime=rt)  # "insufficient funds"
    assert send_verification(rt, broke.id).result == "failed"
    # Refusals, counted by the check that fired.
    for phone in ("+7900123", "+77012345678"):
        with pytest.raises(RequestRefused):
            request_code(phone, runtime=rt)
    with pytest.raises(RequestRefused):
        request_code("+79001110003", runtime=rt)  # the phone's cooldown

    def delivered() -> bool:
        poll_due(rt)  # the sandbox delivers 300 ms after a send
        ids = (ok_id, wrong_id, pending)
        return all(get_status(i, runtime=rt).delivery_status == "deliver" for i in ids)

    wait_until(delivered, 10, "three deliveries", interval=0.2)

    after = scrape(url)
    assert value(after, "targetsms_sms_sent_total") == 3
    assert value(after, "targetsms_sms_failed_total", code="phone_invalid") == 1
    assert value(after, "targetsms_sms_failed_total", code="no_funds") == 1
    assert value(after, "targetsms_requests_refused_total", reason="invalid_phone") == 1
    assert value(after, "targetsms_requests_refused_total", reason="country_not_allowed") == 1
    assert value(after, "targetsms_requests_refused_total", reason="phone_cooldown") == 1
    assert value(after, "targetsms_verifications_total", result="ok") == 1
    assert value(after, "targetsms_verifications_total", result="wrong") == 1
    assert value(after, "targetsms_verifications_total", result="already_used") == 1
    assert value(after, "targetsms_delivery_status_total", status="send") == 3
    assert value(after, "targetsms_delivery_status_total", status="not_valid_phone") == 1
    assert value(after, "targetsms_delivery_status_total", status="deliver") == 3
    # Verified / requested over the last hour: 1 of 5 requests that made a record.
    assert value(after, "targetsms_conversion_ratio") == pytest.approx(1 / 5)
    # Every request queued a send task in the Redis broker (no worker runs in this tier).
    assert value(after, "targetsms_queue_depth", queue=SEND_QUEUE) == depth_before + 5
    # The gateway histogram counts every HTTP request the sandbox saw, failed ones included.
    stats = sandbox.stats()
    send_count = value(after, "targetsms_gateway_request_seconds_count", endpoint="send")
    assert send_count == stats["password_generation"] == 5
    state_count = value(after, "targetsms_gateway_request_seconds_count", endpoint="state")
    assert state_count == stats["state"] >= 1
    inf = value(after, "targetsms_gateway_request_seconds_bucket", endpoint="send", le="+Inf")
    assert inf == send_count
    assert (value(after, "targetsms_gateway_request_seconds_sum", endpoint="send") or 0) > 0
    # The balance as the sandbox had it when the first scrape asked: cached for a minute.
    assert value(after, "targetsms_balance") == value(before, "targetsms_balance") == 1000.0
    assert value(after, "targetsms_balance_alert_below") == 250.5
    for component in ("redis", "broker", "gateway"):
        assert value(after, "targetsms_up", component=component) == 1
    # Everything served is a name the dashboard and alerts may use.
    assert {name for name, _ in after} <= metric_names()


def test_balance_is_asked_at_most_once_per_interval_across_exporters(
    rt: Runtime, sandbox: Sandbox, exporter: Callable[[Runtime], str]
) -> None:
    urls = [exporter(rt), exporter(Runtime.from_settings(rt.settings))]
    for _ in range(3):
        for url in urls:
            assert value(scrape(url), "targetsms_balance") == 1000.0
    assert sandbox.stats()["balance"] == 1
    samples = scrape(urls[0])
    assert value(samples, "targetsms_gateway_request_seconds_count", endpoint="balance") == 1

    # With a short interval (and its own keys), a later refresh sees a send's charge.
    other = Runtime.from_settings(rt.settings.replace(OTP_REDIS_PREFIX="metrics2:"))
    registry = CollectorRegistry()
    registry.register(TargetSMSCollector(other, balance_interval=0.2))
    started = time.monotonic()
    first = registry.get_sample_value("targetsms_balance")
    assert first == 1000.0 and sandbox.stats()["balance"] == 2
    sent(rt, "+79001110009")

    def refreshed() -> float | None:
        balance = registry.get_sample_value("targetsms_balance")
        return balance if balance is not None and balance < first else None

    wait_until(refreshed, 10, "a refreshed balance", interval=0.05)
    # Scraped every 50 ms, balance.php was still asked at most once per 200 ms.
    calls = sandbox.stats()["balance"] - 1  # since `started`
    assert 2 <= calls <= 1 + (time.monotonic() - started) / 0.2
    other.close()


def test_balance_older_than_its_max_age_is_not_exported(rt: Runtime) -> None:
    now = [1_000_000.0]
    registry = CollectorRegistry()
    registry.register(TargetSMSCollector(rt, balance_interval=0.05, clock=lambda: now[0]))
    assert registry.get_sample_value("targetsms_balance") == 1000.0
    # The same deployment, ten minutes on, and the gateway no longer answers.
    now[0] += 601
    rt_down = Runtime.from_settings(
        make_settings(
            rt.settings.redis_url, _unreachable_sandbox(), OTP_REDIS_PREFIX=rt.settings.redis_prefix
        )
    )
    registry = CollectorRegistry()
    registry.register(TargetSMSCollector(rt_down, balance_interval=0.05, clock=lambda: now[0]))
    wait_until(
        lambda: registry.get_sample_value("targetsms_up", {"component": "gateway"}) == 0,
        10,
        "a failed balance call",
    )
    assert registry.get_sample_value("targetsms_balance") is None
    assert registry.get_sample_value("targetsms_up", {"component": "redis"}) == 1
    # The failed calls were timed too.
    assert int(rt.store.totals()["gw:balance:count"]) >= 2
    rt_down.close()


def _unreachable_sandbox() -> Sandbox:
    holder = Sandbox.__new__(Sandbox)
    port = refused_port()  # nothing listens there
    holder.send_url = f"http://127.0.0.1:{port}/password_generation/api.php"
    holder.state_url = f"http://127.0.0.1:{port}/xml/state.php"
    return holder


def test_exporter_survives_redis_and_broker_down(
    sandbox: Sandbox, exporter: Callable[[Runtime], str]
) -> None:
    dead = make_settings(f"redis://127.0.0.1:{refused_port()}/0", sandbox)
    rt = Runtime.from_settings(dead)
    samples = scrape(exporter(rt))
    assert value(samples, "targetsms_up", component="redis") == 0
    assert value(samples, "targetsms_up", component="broker") == 0
    assert value(samples, "targetsms_balance_alert_below") == dead.balance_alert_below
    assert value(samples, "targetsms_sms_sent_total") is None  # unknown, not zero
    assert value(samples, "targetsms_balance") is None
    assert sandbox.stats()["balance"] == 0  # no cache to rate-limit it: the gateway is spared


def test_redis_broker_depth_counts_priority_sub_queues(redis_url: str) -> None:
    name = f"metrics-test-{secrets.token_hex(4)}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with Connection(redis_url) as conn:
        producer = conn.Producer()
        for priority in (0, 0, 5, 9):
            producer.publish(
                {"n": priority}, exchange=queue.exchange, routing_key=name,
                declare=[queue], priority=priority,
            )  # fmt: skip
    try:
        assert queue_depths(redis_url, [name, name + "-none"]) == {
            name: (4, None),
            name + "-none": (0, None),
        }
    finally:
        with Connection(redis_url) as conn:
            queue(conn.default_channel).delete()


@pytest.mark.rabbitmq
def test_rabbitmq_depth_and_consumers_by_passive_declare(amqp_url: str) -> None:
    name = f"metrics-test-{secrets.token_hex(4)}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with Connection(amqp_url) as conn:
        producer = conn.Producer()
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name, declare=[queue])
    try:
        depths = wait_until(
            lambda: (d := queue_depths(amqp_url, [name, name + "-none"]))[name][0] == 3 and d,
            10,
            "three messages in the queue",
        )
        assert depths == {name: (3, 0), name + "-none": (0, 0)}
    finally:
        with Connection(amqp_url) as conn:
            queue(conn.default_channel).delete()


def test_delivery_labels_stay_bounded_whatever_the_totals_hold(rt: Runtime) -> None:
    """Fields a forged push made before statuses were validated show up as one `other`."""
    fields = {f"delivery:forged_{n}": 1 for n in range(2003)}
    raw_redis(rt).hset(rt.store.keys.totals, mapping={**fields, "delivery:deliver": 2})
    registry = CollectorRegistry()
    registry.register(TargetSMSCollector(rt))
    labels = {
        sample.labels["status"]
        for metric in registry.collect()
        if metric.name == "targetsms_delivery_status"
        for sample in metric.samples
    }
    assert labels == {"deliver", "other"}
    total = registry.get_sample_value("targetsms_delivery_status_total", {"status": "other"})
    assert total == 2003
