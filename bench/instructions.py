"""Instructions per SMS, counted by callgrind: the worker as the Procfile runs it, and the bare loop

    .venv/bin/python bench/instructions.py [--latency-ms 200] [--sends 300] [--warmup 60]
        [--only worker|bare|floor|floor-gateway|all] [--broker amqp://USER:PASS@HOST:5672/]
        [--out DIR] [--json FILE]

CPU seconds per SMS (``bench/run.py``) move with the VM's speed and with whatever else runs on
the machine; an instruction count does not. This starts a private Redis and the sandbox gateway,
then runs, each under ``valgrind --tool=callgrind`` with instrumentation off until warmed up:

1. worker: ``sends + warmup`` verifications queued, then one ``celery -A worker worker`` started
   as the Procfile says (the same command as ``bench/run.py``'s "ours" scenario);
2. bare: ``TargetSMSClient.send_code`` from as many threads as the worker's concurrency, each
   with its own keep-alive ``RequestsTransport`` (``bench/run.py``'s "bare" scenario);
3. floor (``--only floor`` or ``all``): the same worker command plus ``--include floor_tasks``,
   consuming no-op tasks from the send queue (``bench/floor_tasks.py``): what Celery, kombu and
   the broker cost per task with this project's configuration and pool, before any Lua step or
   gateway call. Its unit is a task acked instead of an SMS (read from kombu's lists on Redis,
   from the queue's counts on RabbitMQ: ``_RabbitFloor``);
4. floor-gateway (``--only floor-gateway`` or ``all``): the same, each task making the bare
   loop's one ``send_code`` call: the least a Celery worker can spend per SMS.

Once ``warmup`` SMS have reached the sandbox, ``callgrind_control`` switches instrumentation on;
after ``sends`` more it dumps the counters. Instructions per SMS = the dump's total (every thread
of the process) / the SMS that reached the sandbox in between. Requests in flight at either edge
make that divisor uncertain by up to the concurrency; the window is much longer than that.
Only this process's instructions are counted (not Redis's, not the sandbox's). Slow: callgrind
runs a process 20-100x slower than natively (a few minutes for the defaults).

The broker is the store's Redis unless ``--broker`` names a RabbitMQ (``CELERY_BROKER_URL``, as a
deployment sets it). The run then makes a vhost of its own through RabbitMQ's management API
(port 15672 on the broker's host, the URL's credentials) and deletes it at the end: the queue
names are fixed, so nothing another run or test left there may count, nor be purged. The store
stays the private Redis either way.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
import requests
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from floor_tasks import FLOOR_TASK, GATEWAY_TASK  # noqa: E402
from harness import (  # noqa: E402
    LOGIN,
    PASSWORD,
    SENDER,
    SERVICE,
    BenchError,
    Phones,
    Sandbox,
    WaitTimeout,
    bench_redis,
    bench_settings,
    child_env,
    fresh_log,
    procfile_worker,
    start_sandbox,
    stop_process,
    tail,
    wait_until,
)
from scenarios import TEXT, Context, produce, purge_queues  # noqa: E402

from worker.dev.devstack import Stack, python  # noqa: E402
from worker.dev.rabbitmq import management_api, private_vhost  # noqa: E402
from worker.queue.names import SEND_QUEUE  # noqa: E402
from worker.runtime import Runtime, celery_app, set_runtime  # noqa: E402
from worker.settings import Settings  # noqa: E402

# kombu's Redis channel keeps delivered, not yet acked messages in this hash (its default).
UNACKED_KEY = "unacked"

_TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)

_AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


@dataclasses.dataclass(frozen=True)
class RabbitMQ:
    """This run's vhost on RabbitMQ (``url`` reaches it) and the management API that made it."""

    url: str = dataclasses.field(repr=False)  # holds the password
    api: str
    auth: tuple[str, str] = dataclasses.field(repr=False)
    vhost: str

    def queue(self, name: str) -> dict[str, Any]:
        """The management API's view of one queue. Its counts lag: RabbitMQ refreshes them once
        per statistics interval (5 s by default)."""
        try:
            response = requests.get(
                f"{self.api}/queues/{quote(self.vhost, safe='')}/{quote(name, safe='')}",
                auth=self.auth,
                timeout=10,
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            raise BenchError(f"RabbitMQ's management API: {exc}") from None
        found: dict[str, Any] = response.json()
        return found


@contextlib.contextmanager
def rabbitmq_vhost(url: str) -> Iterator[RabbitMQ]:
    """A vhost of this run's own on ``url``'s RabbitMQ (``worker.dev.rabbitmq``), deleted
    afterwards: the task queues have fixed names, and another run's must not count."""
    if urlsplit(url).scheme not in _AMQP_SCHEMES:
        raise BenchError(
            f"--broker takes an {', '.join(s + '://' for s in _AMQP_SCHEMES)} URL, not"
            f" {maybe_sanitize_url(url)} (without --broker: the store's Redis)"
        )
    mgmt = management_api(url)
    with contextlib.ExitStack() as stack:
        try:
            requests.get(f"{mgmt.api}/overview", auth=mgmt.auth, timeout=5).raise_for_status()
            amqp = stack.enter_context(private_vhost(url, "bench-instructions"))
        except requests.RequestException as exc:
            hint = "; rabbitmq-plugins enable rabbitmq_management" * isinstance(
                exc, requests.ConnectionError
            )
            raise BenchError(
                f"--broker: RabbitMQ's management API at {mgmt.api} makes the run's vhost and"
                f" did not ({exc}{hint})"
            ) from None
        try:  # the management API may answer where AMQP does not
            with Connection(amqp, connect_timeout=5) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)
        except Exception as exc:  # kombu raises its own OperationalError, or the socket's
            raise BenchError(f"--broker: no AMQP at {maybe_sanitize_url(amqp)}: {exc}") from None
        yield RabbitMQ(amqp, mgmt.api, mgmt.auth, unquote(urlsplit(amqp).path[1:]))


def _settings(
    ctx: Context, sandbox: Sandbox, broker: RabbitMQ | None, **overrides: Any
) -> Settings:
    """``bench_settings`` with this run's broker: the store's Redis, or the RabbitMQ vhost."""
    if broker is not None:
        overrides["CELERY_BROKER_URL"] = broker.url
    return bench_settings(ctx.redis_url, sandbox, **overrides)


def _valgrind(out: Path, name: str) -> list[str]:
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise BenchError("valgrind (with callgrind_control) is not installed")
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--fair-sched=try",
        f"--callgrind-out-file={out / name}.%p.cg",
    ]  # fmt: skip


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _count(
    proc: subprocess.Popen[bytes],
    done: Callable[[], int],
    warmup: int,
    sends: int,
    log: Path,
    out: Path,
    steady: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Instrument ``proc`` from ``warmup`` units of work on (``done()``: SMS that reached the
    sandbox, or floor tasks acked), for ``sends`` more; its instructions per unit.

    ``steady(timeout)``, when given, waits for the state that makes ``done()`` exact, before
    instrumentation goes on and again after the dump (raises when it does not come)."""
    timeout = 120 + warmup * 2
    try:
        wait_until(lambda: done() >= warmup, timeout, "warm-up sends", alive=[proc])
        if steady is not None:
            steady(60)
        _control(proc.pid, "--instr=on")
        first = done()
        began = time.monotonic()
        target = first + sends
        wait_until(lambda: done() >= target, 120 + sends * 3, "sends", alive=[proc])
        before = done()
        _control(proc.pid, "--dump")
        after = done()
        if steady is not None:
            steady(30)
    except (BenchError, WaitTimeout) as exc:
        raise BenchError(f"{exc} ({tail(log)})") from None
    wall = time.monotonic() - began
    dumps = sorted(out.glob(f"*.{proc.pid}.cg*"), key=lambda p: p.stat().st_mtime)
    totals = [int(m.group(1)) for p in dumps if (m := _TOTALS.search(p.read_text()))]
    if not totals:
        raise BenchError(f"no callgrind dump with totals for pid {proc.pid} in {out}")
    counted = (before + after) / 2 - first
    return {
        "instructions": totals[-1],
        "sms": counted,
        "instructions_per_sms": round(totals[-1] / counted),
        "wall_s": round(wall, 1),
    }


def run_worker(
    ctx: Context, sandbox: Sandbox, n: int, warmup: int, broker: RabbitMQ | None = None
) -> dict[str, Any]:
    sandbox.reset()
    # Under callgrind a queued send waits minutes: keep the sweep from taking it for lost (its
    # grace follows these two) and the broker from redelivering a slow task.
    settings = _settings(
        ctx, sandbox, broker, CELERY_VISIBILITY_TIMEOUT=1200, OTP_SEND_DEADLINE_SECONDS=3600
    )
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        purge_queues()  # an earlier scenario's sends (another key prefix) must not be taken
        produce(rt, ctx.phones.take(n + warmup + ctx.worker.concurrency * 2), threads=8)
        log = fresh_log(ctx.logs / "worker.log")
        argv = [*_valgrind(ctx.logs, "worker"), *ctx.worker.argv(f"cg-{secrets.token_hex(3)}@%h")]
        proc = ctx.stack.spawn("worker", argv, child_env(settings.to_env()), log)
        try:
            return _count(proc, sandbox.sends, warmup, n, log, ctx.logs)
        finally:
            stop_process(ctx.stack, proc, timeout=60)
    finally:
        purge_queues()
        rt.close()


def run_bare(ctx: Context, sandbox: Sandbox, n: int, warmup: int) -> dict[str, Any]:
    sandbox.reset()
    log = fresh_log(ctx.logs / "bare.log")
    total = n + warmup + ctx.worker.concurrency * 2
    argv = [
        *_valgrind(ctx.logs, "bare"), python(), str(Path(__file__).resolve()), "--bare-child",
        "--url", sandbox.url, "--sends", str(total), "--threads", str(ctx.worker.concurrency),
    ]  # fmt: skip
    proc = ctx.stack.spawn("bare", argv, child_env(), log)
    try:
        return _count(proc, sandbox.sends, warmup, n, log, ctx.logs)
    finally:
        stop_process(ctx.stack, proc, timeout=60)


def _floor_done(redis_url: str, total: int) -> Callable[[], int]:
    """Floor tasks acked so far: queued, minus those still in the queue or delivered unacked."""
    client = redis.Redis.from_url(redis_url, socket_timeout=10)

    def done() -> int:
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(SEND_QUEUE)
            pipe.hlen(UNACKED_KEY)
            queued, unacked = pipe.execute()
        return total - int(queued) - int(unacked)

    return done


# Uninstrumented, the floor worker takes 100-300 no-op tasks/s off RabbitMQ: the backlog must
# outlast the wait for the management API's next sample (its interval is 5 s) at both edges.
_RABBIT_SLACK = 5000
# Deliveries that may be between an ack and the next push when RabbitMQ samples its counts.
_IN_FLIGHT = 4


class _RabbitFloor:
    """Floor tasks acked so far on RabbitMQ, and the check that makes the count exact.

    A passive declare answers the messages ready at once, but RabbitMQ shows no client the
    deliveries still unacked, and the management API's count of them lags by up to 5 s. While
    a backlog waits, though, RabbitMQ keeps ``prefetch`` deliveries unacked at the one consumer
    (it pushes the next message as each ack comes), so acked = queued - ready - prefetch, to
    within the few in flight at either edge, as on Redis. ``steady`` waits until the management
    API shows that state, and keeps what it saw."""

    def __init__(self, broker: RabbitMQ, total: int, prefetch: int) -> None:
        self.broker, self.total, self.prefetch = broker, total, prefetch
        self.seen: list[dict[str, Any]] = []
        self._conn = Connection(broker.url, connect_timeout=10)
        self._channel: Any = self._conn.channel()  # kombu's stubs lack queue_declare

    def ready(self) -> int:
        _, count, _ = self._channel.queue_declare(queue=SEND_QUEUE, passive=True)
        return int(count)

    def done(self) -> int:
        return self.total - self.ready() - self.prefetch

    def steady(self, timeout: float) -> None:
        last: dict[str, Any] = {}

        def held() -> bool:
            queue = self.broker.queue(SEND_QUEUE)
            last.clear()
            last.update(
                consumers=queue.get("consumers"),
                unacked=queue.get("messages_unacknowledged"),
                ready=self.ready(),
            )
            unacked = last["unacked"]
            return (
                last["consumers"] == 1
                and isinstance(unacked, int)
                and self.prefetch - _IN_FLIGHT <= unacked <= self.prefetch
                and last["ready"] > 0
            )

        try:
            wait_until(held, timeout, "steady state", interval=0.5)
        except WaitTimeout:
            raise BenchError(
                f"floor on RabbitMQ: the count needs one consumer holding {self.prefetch}"
                f" unacked and a backlog behind; RabbitMQ shows {last}"
            ) from None
        self.seen.append(dict(last))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()


def _run_floor(
    ctx: Context,
    sandbox: Sandbox,
    n: int,
    warmup: int,
    broker: RabbitMQ | None,
    name: str,
    task: str,
    arg: list[str],
) -> dict[str, Any]:
    """The worker as the Procfile runs it, plus ``--include floor_tasks``, consuming ``task``
    messages (one per item of ``arg``) from the send queue."""
    sandbox.reset()
    settings = _settings(ctx, sandbox, broker, CELERY_VISIBILITY_TIMEOUT=1200)
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        purge_queues()  # what an earlier worker left queued must not count as floor tasks
        app = celery_app()
        with app.producer_or_acquire() as producer:
            for item in arg:
                app.send_task(task, args=[item], producer=producer)
        log = fresh_log(ctx.logs / f"{name}.log")
        argv = [
            *_valgrind(ctx.logs, name),
            *ctx.worker.argv(f"cg-{secrets.token_hex(3)}@%h"), "--include", "floor_tasks",
        ]  # fmt: skip
        proc = ctx.stack.spawn(name, argv, child_env(settings.to_env()), log)
        rabbit: _RabbitFloor | None = None
        steady: Callable[[float], None] | None = None
        if task == GATEWAY_TASK:
            done = sandbox.sends
        elif broker is None:
            done = _floor_done(ctx.redis_url, len(arg))
        else:
            prefetch = ctx.worker.concurrency * int(app.conf.worker_prefetch_multiplier)
            rabbit = _RabbitFloor(broker, len(arg), prefetch)
            done, steady = rabbit.done, rabbit.steady
        try:
            result = _count(proc, done, warmup, n, log, ctx.logs, steady)
            if rabbit is not None:
                result["rabbitmq_seen"] = rabbit.seen  # the send queue at the two edges
            return result
        finally:
            stop_process(ctx.stack, proc, timeout=60)
            if rabbit is not None:
                rabbit.close()
    finally:
        purge_queues()
        rt.close()


def run_floor(
    ctx: Context, sandbox: Sandbox, n: int, warmup: int, broker: RabbitMQ | None = None
) -> dict[str, Any]:
    """Celery's own cost per task: no-op tasks (``floor_tasks.py``); no Lua, no gateway."""
    total = n + warmup + ctx.worker.concurrency * 2 + (_RABBIT_SLACK if broker else 0)
    ids = [secrets.token_hex(16) for _ in range(total)]
    return _run_floor(ctx, sandbox, n, warmup, broker, "floor", FLOOR_TASK, ids)


def run_floor_gateway(
    ctx: Context, sandbox: Sandbox, n: int, warmup: int, broker: RabbitMQ | None = None
) -> dict[str, Any]:
    """Celery plus the bare loop's call per task: the least a Celery worker does per SMS."""
    phones = ctx.phones.take(n + warmup + ctx.worker.concurrency * 2)
    return _run_floor(ctx, sandbox, n, warmup, broker, "floor-gateway", GATEWAY_TASK, phones)


def bare_child(url: str, sends: int, threads: int) -> int:
    """The bare loop of ``bench/run.py``, as a process of its own (what callgrind counts)."""
    import contextlib
    import itertools
    import threading

    from worker.errors import GatewayError
    from worker.providers.targetsms import RequestsTransport, TargetSMSClient

    phones = Phones().take(sends)
    next_index = itertools.count()

    def loop() -> None:
        client = TargetSMSClient(
            login=LOGIN,
            password=PASSWORD,
            sender=SENDER,
            service_name=SERVICE,
            send_url=f"{url}/password_generation/api.php",
            state_url=f"{url}/xml/state.php",
            transport=RequestsTransport(pool_size=1),
        )
        try:
            while (i := next(next_index)) < sends:
                with contextlib.suppress(GatewayError):
                    client.send_code(phones[i], text=TEXT, code_length=6)
        finally:
            client.close()

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--sends", type=int, default=300, help="SMS counted")
    parser.add_argument("--warmup", type=int, default=60, help="SMS before counting starts")
    parser.add_argument(
        "--only",
        choices=("worker", "bare", "floor", "floor-gateway", "all"),
        help="default: worker and bare",
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="a RabbitMQ (amqp://user:pass@host:5672/) for the worker's tasks, in a vhost of"
        " the run's own; default: the store's Redis",
    )
    parser.add_argument("--out", type=Path, help="directory for logs and callgrind files")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--bare-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        return bare_child(args.url, args.sends, args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="targetsms-callgrind-"))
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    vhosts = contextlib.ExitStack()
    try:
        worker = procfile_worker()
        broker = vhosts.enter_context(rabbitmq_vhost(args.broker)) if args.broker else None
        where = maybe_sanitize_url(broker.url) if broker else "the store's Redis"
        print(f"worker: {worker.describe()}; broker: {where}; files in {out}", file=sys.stderr)
        redis_url = bench_redis(stack)
        sandbox = start_sandbox(stack, out, args.latency_ms)
        ctx = Context(stack, out, redis_url, None, Phones(), worker)
        results: dict[str, Any] = {"latency_ms": args.latency_ms, "broker": where}
        runs = (
            ("worker", partial(run_worker, broker=broker)),
            ("bare", run_bare),
            ("floor", partial(run_floor, broker=broker)),
            ("floor-gateway", partial(run_floor_gateway, broker=broker)),
        )
        for name, run in runs:
            if (
                args.only == name
                or args.only == "all"
                or (args.only is None and name in ("worker", "bare"))
            ):
                print(f"{name}: counting {args.sends} SMS ...", file=sys.stderr)
                results[name] = run(ctx, sandbox, args.sends, args.warmup)
                r = results[name]
                print(
                    f"{name:<7} {r['instructions_per_sms'] / 1e6:8.2f} M instructions per SMS"
                    f" ({r['instructions'] / 1e9:.2f} G over {r['sms']:g} SMS, {r['wall_s']:g} s)"
                )
        if "worker" in results and "bare" in results:
            ratio = (
                results["worker"]["instructions_per_sms"] / results["bare"]["instructions_per_sms"]
            )
            results["ratio_worker_vs_bare"] = round(ratio, 3)
            print(f"worker / bare: {ratio:.2f}")
        bare = results.get("bare", {}).get("instructions_per_sms")
        for name in ("floor", "floor-gateway"):
            if name in results and bare:
                mine = results[name]["instructions_per_sms"]
                results[f"ratio_{name.replace('-', '_')}_vs_bare"] = round(mine / bare, 3)
                print(f"{name} / bare: {mine / bare:.2f}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    except (BenchError, WaitTimeout, subprocess.CalledProcessError) as exc:
        print(f"instructions: error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()  # the workers first: then nothing is connected to the vhost
        vhosts.close()


if __name__ == "__main__":
    sys.exit(main())
