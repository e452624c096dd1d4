"""The gate on a Redis Cluster: one slot for every gate key (the layout the store uses) against
a split gate (reserve in each window's own slot, then commit with the record, or give back).

Both run the product's gate shape (phone, IP, prefix and global windows) from ``--threads``
threads for ``--seconds`` against a local three-master cluster, and against one server for the
one-slot gate. The one-slot gate is the store's own ``create`` step (gate + record, one Lua
call); the split gate is five calls (four reserves, one commit), each a small Lua step on its
own slot. A crash between the split gate's steps leaves its reservations counted in their
windows until they expire (an hour, a day): the leak is printed per crash point.

    .venv/bin/python bench/cluster_gate.py --seconds 10 --threads 8
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
from typing import Any

from redis.cluster import RedisCluster

from worker.core.codes import new_verification_id
from worker.core.gate import DAY_MS, HOUR_MS, Limit, PumpingPolicy, SmsGate
from worker.dev.devstack import start_redis
from worker.dev.redis_ha import start_cluster
from worker.store import Created, Store, Topology

# Reserve one SMS in one window: refuse when full, else count it (ZADD member at now).
RESERVE = """
local now = tonumber(ARGV[1]); local window = tonumber(ARGV[2]); local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4]); redis.call('PEXPIRE', KEYS[1], window)
return 1
"""
COMMIT = """
redis.call('HSET', KEYS[1], 'state', 'queued', 'phone', ARGV[1])
redis.call('PEXPIRE', KEYS[1], 3600000)
return 1
"""
NO_PUMPING = PumpingPolicy(
    refuse=False, window_ms=DAY_MS, min_sends=10**9, min_conversion=0.0, cooloff_ms=HOUR_MS
)


def _gate(n: int) -> SmsGate:
    phone = f"+7916{n % 10**7:07d}"
    limits = (
        Limit("phone_hour", f"p{phone}", HOUR_MS, 10**6),
        Limit("ip_hour", f"ip{n % 1000}", HOUR_MS, 10**6),
        Limit("prefix_hour", f"x{phone[:-4]}", HOUR_MS, 10**6),
        Limit("global_hour", "all", HOUR_MS, 10**9),
    )
    return SmsGate(phone=phone, region="RU", phone_key=f"p{phone}", prefix_key=f"x{phone[:-4]}",
                   ip_key=f"ip{n % 1000}", limits=limits, captcha_passed=False, step_up=None,
                   pumping=NO_PUMPING)  # fmt: skip


def one_slot(store: Store, n: int) -> None:
    out = store.create(_gate(n), verification_id=new_verification_id(), idempotency_digest=None,
                       idempotency_ttl_ms=0, record_ttl_ms=3_600_000, send_window_ms=90_000,
                       max_attempts=3, pending_grace_ms=45_000)  # fmt: skip
    assert isinstance(out, Created)


def split(client: Any, scripts: tuple[Any, Any], prefix: str, n: int, crash_after: int = 9) -> int:
    """Reserve per window (each key its own slot), then commit. Returns reservations made."""
    reserve, commit = scripts
    gate, vid, now = _gate(n), new_verification_id(), int(time.time() * 1000)
    made = 0
    for limit in gate.limits:
        if made == crash_after:
            return made  # the process died here: what it reserved stays counted
        key = f"{prefix}{{{limit.name}:{limit.subject}}}"
        if not reserve(keys=[key], args=[now, limit.window_ms, limit.limit, vid], client=client):
            return made  # (a refusal would give the earlier ones back: not reached here)
        made += 1
    commit(keys=[f"{prefix}{{{vid}}}:v"], args=[gate.phone], client=client)
    return made


def rate(step: Any, threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        n = i * 10**6
        while time.monotonic() < stop:
            step(n)
            n += 1
            done[i] += 1

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    url, proc, tmp = start_redis()
    cluster = start_cluster()
    try:
        single = Store.from_url(url, f"b{secrets.token_hex(3)}:")
        on_cluster = Store.from_url(cluster.url, f"b{secrets.token_hex(3)}:",
                                    topology=Topology.of(cluster.url, cluster=True))  # fmt: skip
        client = RedisCluster.from_url(cluster.url)
        scripts = (client.register_script(RESERVE), client.register_script(COMMIT))
        prefix = f"b{secrets.token_hex(3)}:"
        runs: dict[str, Any] = {
            "one server, one-slot gate (create)": lambda n: one_slot(single, n),
            "cluster, one-slot gate (create)": lambda n: one_slot(on_cluster, n),
            "cluster, split gate (4 reserves + commit)": lambda n: split(
                client, scripts, prefix, n
            ),
        }
        for name, step in runs.items():
            print(f"{name:45} {rate(step, a.threads, a.seconds):8.0f} steps/s")
        for k in range(1, 4 + 1):
            leaked = split(client, scripts, prefix + "crash:", 10**8 + k, crash_after=k)
            print(f"split gate, crash after reserve {k}: {leaked} window entries leaked, no record")
    finally:
        cluster.close()
        proc.terminate()
        proc.wait(10)
        tmp.cleanup()


if __name__ == "__main__":
    main()
