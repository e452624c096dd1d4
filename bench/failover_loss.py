"""What asynchronous replication loses when the master is SIGKILLed, and what ``WAIT`` costs.

Writers (8 threads) INCR one counter as fast as they can through the Sentinel-managed client,
keeping the last value Redis acknowledged. The master is SIGKILLed mid-run; once Sentinel has
promoted the replica, the counter there shows how many acknowledged writes never reached it.
With ``--wait`` every write is followed by ``WAIT 1 100`` (acknowledged only once the replica
has it). Prints the loss per kill and the write latency, p50 and p99.

    .venv/bin/python bench/failover_loss.py --runs 3
    .venv/bin/python bench/failover_loss.py --runs 3 --wait
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import redis

from worker.dev.redis_ha import MASTER_NAME, start_sentinel_group
from worker.store import StoreUnavailable, Topology
from worker.store.connection import translated


def one_run(wait: bool, kill_after: float, writers: int) -> tuple[int, list[float]]:
    group = start_sentinel_group(down_after_ms=1000)
    try:
        topology = Topology.of("redis://x/0", sentinels=group.sentinels, master=MASTER_NAME)
        client: redis.Redis = topology.connect()  # type: ignore[assignment]
        acked, latencies, stop = [0], [], threading.Event()

        def write() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    with translated("bench"):
                        value = int(client.incr("counter"))
                        if wait:
                            client.execute_command("WAIT", 1, 100)
                except StoreUnavailable:
                    continue
                latencies.append(time.perf_counter() - started)
                acked[0] = max(acked[0], value)

        threads = [threading.Thread(target=write, daemon=True) for _ in range(writers)]
        for thread in threads:
            thread.start()
        time.sleep(kill_after)
        group.kill_master()
        before_kill = acked[0]  # no write is acknowledged between the kill and the promotion
        # Wait for the new master, then read what it kept.
        while True:
            try:
                with translated("bench"):
                    kept = int(client.get("counter") or 0)
                break
            except StoreUnavailable:
                time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(5)
        return max(before_kill - kept, 0), latencies
    finally:
        group.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wait", action="store_true", help="WAIT 1 100 after every write")
    parser.add_argument("--kill-after", type=float, default=1.0)
    parser.add_argument("--writers", type=int, default=8, help="writing threads")
    args = parser.parse_args()
    losses, latencies = [], []
    for _ in range(args.runs):
        lost, lat = one_run(args.wait, args.kill_after, args.writers)
        losses.append(lost)
        latencies += lat
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    mode = "WAIT 1 100" if args.wait else "async"
    print(f"{mode}: acknowledged writes lost per kill {losses}; "
          f"write p50 {p50:.3f} ms, p99 {p99:.3f} ms ({len(latencies)} writes)")  # fmt: skip


if __name__ == "__main__":
    main()
