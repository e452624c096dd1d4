"""The store on a real Redis Cluster (three masters with a replica each, ``redis-cli --cluster
create``): the whole flow with worker processes, the limits holding, and the master serving the
store's slot SIGKILLed and replaced by its replica under a run of verifications.

The broker is RabbitMQ (a Redis broker cannot run on a cluster: refused at load).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from celery import Celery
from helpers import Sandbox, WorkerProcess, make_settings, require_tool, wait_until

from worker import RequestRefused, ServiceUnavailable, get_status, request_code, verify_code
from worker.dev.devstack import WaitTimeout
from worker.dev.redis_ha import RedisCluster, start_cluster
from worker.queue.celery_app import CeleryQueue, configure
from worker.runtime import Runtime
from worker.settings import Settings

BEFORE, AFTER = 8, 8  # verifications sent before the kill, and created after it


@pytest.fixture
def cluster() -> Iterator[RedisCluster]:
    require_tool("redis-cli", "redis-tools")
    cluster = start_cluster(masters=3, replicas=1, node_timeout_ms=1000)
    try:
        yield cluster
    finally:
        cluster.close()


def _producer(settings: Settings) -> Runtime:
    celery = configure(Celery("targetsms-producer"), lambda: settings)
    queue = CeleryQueue(celery, max_countdown_seconds=settings.visibility_timeout - 5.0)
    return Runtime.from_settings(settings, queue=queue)


def _all_sent(rt: Runtime, ids: list[str], workers: list[WorkerProcess]) -> None:
    def unsent() -> dict[str, str]:
        states = {v: get_status(v, runtime=rt).state for v in ids}
        return {v: state for v, state in states.items() if state != "sent"}

    try:
        wait_until(lambda: not unsent(), timeout=60, what="every verification sent")
    except WaitTimeout:
        logs = "\n".join(w.output()[-3000:] for w in workers)
        raise AssertionError(f"not sent: {unsent()}\n{logs}") from None


def test_the_flow_and_the_limits_survive_a_master_replaced_by_its_replica(
    cluster: RedisCluster,
    amqp_vhost: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    settings = make_settings(
        cluster.url,  # any node: the client learns the others
        sandbox,
        REDIS_CLUSTER="1",
        CELERY_BROKER_URL=amqp_vhost,
        OTP_PHONE_MAX_PER_HOUR=2,
    )
    workers = [start_worker(settings, concurrency=4) for _ in range(2)]
    rt = _producer(settings)

    # The limits hold: a phone's third SMS in the hour is refused, whichever node answers.
    limited = "+79160000001"
    first = [request_code(limited, runtime=rt).id for _ in range(2)]
    with pytest.raises(RequestRefused) as refused_limit:
        request_code(limited, runtime=rt)
    assert refused_limit.value.code == "rate_limited"

    before: dict[str, str] = {}  # verification id -> phone
    for n in range(BEFORE):
        phone = f"+7916100{n:04d}"
        before[request_code(phone, runtime=rt).id] = phone
    _all_sent(rt, [*first, *before], workers)

    # SIGKILL the master that serves the store's slot: its replica must take over.
    old_master = cluster.master_of(rt.store.keys.totals)
    cluster.kill(old_master)
    killed_at = time.monotonic()
    after: dict[str, str] = {}
    refused: list[str] = []
    recovered_at = 0.0
    n = 0
    deadline = killed_at + 60
    while len(after) < AFTER and time.monotonic() < deadline:
        n += 1
        phone = f"+7916200{n:04d}"
        try:
            after[request_code(phone, runtime=rt).id] = phone
        except ServiceUnavailable:  # anything else fails the test
            refused.append(phone)
            time.sleep(0.05)
            continue
        recovered_at = recovered_at or time.monotonic()
    assert len(after) == AFTER, f"only {len(after)} created in 60 s"
    new_master = cluster.master_of(rt.store.keys.totals)
    assert new_master != old_master
    print(f"\ncluster failover: producer unavailable for {recovered_at - killed_at:.2f} s "
          f"({len(refused)} refused), node timeout 1000 ms")  # fmt: skip

    _all_sent(rt, list(after), workers)
    # Sent before the kill, verified after it (the promoted replica had the record and had
    # no scripts cached: NOSCRIPT is loaded again, never an error).
    for verification_id, phone in {**before, **after}.items():
        result = verify_code(verification_id, sandbox.last_code(phone), runtime=rt)
        assert result.ok, (verification_id, result.reason)
    # The limit survived the failover too (the replica had the window's log).
    with pytest.raises(RequestRefused):
        request_code(limited, runtime=rt)
    # Nothing spent for a refused request, and the same workers carried on.
    assert all(not sandbox.outbox(phone) for phone in refused)
    for worker in workers:
        assert worker.proc.poll() is None, worker.output()[-2000:]
    rt.close()
