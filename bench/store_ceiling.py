"""The ceiling of one Redis for the product's own steps: one server, Sentinel, a 3-master cluster.

    .venv/bin/python bench/store_ceiling.py [--quick] [--json FILE] [--procs 4] [--threads 2]
        [--seconds 10] [--rounds 1] [--targets server,server-aof,sentinel,cluster]
        [--replicas 1] [--aof]

The figures in BENCHMARKS.md ("One Redis's ceiling") come from ``--rounds 3 --seconds 5
--targets server,server-aof,sentinel,cluster``; ``--quick`` is a 2 s-per-phase smoke run.

``--procs`` client processes, each with ``--threads`` threads and one connection per thread, call
the real ``Store`` with the arguments the product passes, one round trip at a time as the
product does (a request and a worker never pipeline their steps). Phases of ``--seconds`` each,
in the order a login takes them:

- **floor**: an empty Lua step (``return 1``) on the store's slot: what one round trip costs
  the server before any of our work;
- **publish**: one event on the store's events channel, as every step below publishes its own
  (on a cluster a PUBLISH reaches every node, whatever its slots);
- **create**: ``Store.create`` with the gate ``request_code`` builds (``worker.api.gate``:
  production default windows with an IP: cooldown, phone hour and day, prefix hour, global hour
  and day, IP hour and day), each SMS to a new phone; limits raised so that none refuses;
- **send**: what a worker does with a send the gateway accepted: ``claim_send``, then
  ``store_sent`` (code digest, message id, one gateway timing, first poll scheduled);
- **verify**: ``Store.verify`` with the right code (an HMGET of the record, then the Lua step).

Around each phase every Redis server's ``used_cpu_sys + used_cpu_user`` (INFO) is read, so a
step's server CPU is measured, not inferred from the wall clock: summed over the masters, and
for the busiest master alone (replicas apart). The ceiling is one core divided by the busiest
master's CPU per step: Redis runs commands on one thread, and on a cluster every store key
carries the store's hash tag (``worker/store/keys.py``), so one master runs every step. On a
small machine the clients compete with Redis for the same cores, so steps/s is that machine's
and the ceiling is the figure to carry to a dedicated Redis host; ``srv cores`` (the masters'
CPU over the wall time) says how busy Redis was: far below 1, the run was bound by the clients
and whatever else ran on the machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import redis  # noqa: E402
from harness import calibration_ms, machine, machine_busy_seconds  # noqa: E402

from worker.api.gate import sms_gate  # noqa: E402
from worker.core.codes import code_digest, new_verification_id, pseudonym  # noqa: E402
from worker.core.gate import HOUR_MS, SmsGate  # noqa: E402
from worker.core.outcomes import VerifyReason  # noqa: E402
from worker.dev.devstack import start_redis  # noqa: E402
from worker.dev.redis_ha import MASTER_NAME, start_cluster, start_sentinel_group  # noqa: E402
from worker.settings import Settings  # noqa: E402
from worker.steps.polling import POLL_MARKER_GRACE_MS, POLL_SLACK_MS  # noqa: E402
from worker.store import (  # noqa: E402
    ClaimOutcome,
    Created,
    GatewayTimings,
    Store,
    StoreUnavailable,
    Topology,
)
from worker.store.keys import Keys  # noqa: E402

PHASES = ("floor", "publish", "create", "send", "verify")
LUA_STEPS = {"floor": 1, "publish": 1, "create": 1, "send": 2, "verify": 1}  # per phase item
MANY = 10**8  # every limit the run must not hit


def bench_settings() -> Settings:
    """Production defaults (windows, TTLs, attempts), limits and pumping out of the way."""
    return Settings().replace(
        OTP_SECRET_KEY=secrets.token_urlsafe(32),
        OTP_PHONE_MAX_PER_HOUR=MANY,
        OTP_PHONE_MAX_PER_DAY=MANY,
        OTP_IP_MAX_PER_HOUR=MANY,
        OTP_IP_MAX_PER_DAY=MANY,
        OTP_PREFIX_MAX_PER_HOUR=MANY,
        OTP_MAX_SMS_PER_HOUR=MANY,
        OTP_MAX_SMS_PER_DAY=MANY,
        OTP_PUMPING_MIN_SENDS=MANY,
        OTP_VERIFY_MAX_PER_PHONE_PER_HOUR=MANY,
        OTP_VERIFY_MAX_PER_IP_PER_HOUR=MANY,
    )


# --- one login's steps, as the product calls them ----------------------------------------------


@dataclass
class Login:
    vid: str
    ip: str
    token: str = ""
    code: str = ""


class Steps:
    """The product's Store steps with the arguments ``request_code``, the worker's send and
    ``verify_code`` pass (worker/api/flows, worker/steps/sending.py)."""

    def __init__(self, store: Store, s: Settings) -> None:
        self.store, self.s = store, s

    def gate(self, n: int, ip: str) -> SmsGate:
        return sms_gate(self.s, phone=f"+7916{n:07d}", region="RU", ip=ip, captcha_passed=False)

    def create(self, n: int) -> Login:
        c, ip = self.s.codes, f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        login = Login(new_verification_id(), ip)
        out = self.store.create(
            self.gate(n, ip), verification_id=login.vid, idempotency_digest=None,
            idempotency_ttl_ms=c.ttl_seconds * 1000, record_ttl_ms=c.record_ttl_seconds * 1000,
            send_window_ms=c.send_deadline_seconds * 1000, max_attempts=c.max_attempts,
            pending_grace_ms=self.s.pending_send_grace_ms,
        )  # fmt: skip
        if not isinstance(out, Created):
            raise RuntimeError(f"create refused: {out.code}")
        return login

    def send(self, login: Login) -> None:
        s, token = self.s, secrets.token_hex(8)
        claim = self.store.claim_send(login.vid, token, int(s.lock_ttl_seconds * 1000))
        if claim.outcome is not ClaimOutcome.CLAIMED:
            raise RuntimeError(f"claim: {claim.outcome}")
        code = f"{secrets.randbelow(10**6):06d}"
        timings = GatewayTimings()
        timings.add("send", 0.2)
        stored = self.store.store_sent(
            login.vid, token, code_digest=code_digest(s.secret, login.vid, code),
            id_sms=secrets.token_hex(6), status="send", ttl_ms=s.codes.ttl_seconds * 1000,
            first_poll_ms=int(s.polling.first_delay_seconds * 1000),
            max_attempts=s.codes.max_attempts,
            poll_ttl_ms=int((s.polling.max_age_seconds + s.polling.max_delay_seconds) * 1000)
            + 60_000,
            poll_slack_ms=POLL_SLACK_MS, poll_grace_ms=POLL_MARKER_GRACE_MS,
            poll_batch=s.polling.batch_size, timings=timings,
        )  # fmt: skip
        if not stored.stored:
            raise RuntimeError(f"store_sent: {stored.state}")
        login.token, login.code = token, code

    def verify(self, login: Login) -> None:
        s = self.s
        verdict = self.store.verify(
            login.vid, [code_digest(key, login.vid, login.code) for key in s.verify_secrets],
            verifier_key=pseudonym(s.pseudonym_secret, "ip", login.ip), window_ms=HOUR_MS,
            phone_limit=s.limits.verify_max_per_phone_per_hour,
            ip_limit=s.limits.verify_max_per_ip_per_hour,
            pumping_window_ms=s.abuse.pumping_window_seconds * 1000,
        )  # fmt: skip
        if verdict.reason is not VerifyReason.OK:
            raise RuntimeError(f"verify: {verdict.reason}")


# --- client processes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    topology: Topology
    prefix: str

    def store(self) -> Store:
        return Store.from_url(self.topology.url, self.prefix, topology=self.topology)


@dataclass
class _Tally:
    done: int = 0
    unavailable: int = 0  # StoreUnavailable: Redis did not answer within the client's timeout
    errors: int = 0  # anything else: a step that did not do what the product expects
    first_error: str = ""


class _Client:
    """One client process's threads, each on its own logins: created, sent and verified by the
    same thread, each phone used once (no cooldown is hit)."""

    def __init__(self, target: Target, settings: Settings, slot: int, width: int, n: int) -> None:
        self.steps = Steps(target.store(), settings)
        # The floor: an empty Lua step on the store's slot, one round trip like the others; and
        # one event published as every step publishes its own (``record_event``).
        self.client = target.topology.connect()
        self.noop = self.client.register_script("return 1")
        self.noop_keys = [self.steps.store.keys.totals]
        self.channel = self.steps.store.keys.events
        self.event = json.dumps({"at": int(time.time() * 1000), "event": "queued",
                                 "id": new_verification_id(), "state": "queued"})  # fmt: skip
        self.slots = [slot * n + t for t in range(n)]
        self.width = width * n
        self.queued: list[list[Login]] = [[] for _ in range(n)]
        self.sent: list[list[Login]] = [[] for _ in range(n)]
        self.created = [0] * n

    def one(self, phase: str, t: int) -> bool:
        """One item of ``phase`` on thread ``t``'s logins; False when it has none left."""
        if phase == "floor":
            self.noop(keys=self.noop_keys)
        elif phase == "publish":
            self.client.publish(self.channel, self.event)
        elif phase == "create":
            n = (self.created[t] * self.width + self.slots[t]) % 10**7
            self.queued[t].append(self.steps.create(n))
            self.created[t] += 1
        elif phase == "send":
            if not self.queued[t]:
                return False
            login = self.queued[t].pop()
            self.steps.send(login)
            self.sent[t].append(login)
        else:
            if not self.sent[t]:
                return False
            self.steps.verify(self.sent[t].pop())
        return True

    def loop(self, phase: str, t: int, stop: float, tally: _Tally) -> None:
        while time.monotonic() < stop:
            try:
                if not self.one(phase, t):
                    return
                tally.done += 1
            except StoreUnavailable as exc:
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                tally.unavailable += 1
            except Exception as exc:
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                tally.errors += 1
                if tally.errors > 100:
                    return

    def phase(self, phase: str, stop: float) -> tuple[int, int, int, float, str]:
        """(items, unavailable, errors, this process's CPU s, the first error's text)."""
        tallies = [_Tally() for _ in self.slots]
        cpu = time.process_time()
        pool = [
            threading.Thread(target=self.loop, args=(phase, t, stop, tallies[t]))
            for t in range(len(self.slots))
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        first = next((x.first_error for x in tallies if x.first_error), "")
        return (sum(x.done for x in tallies), sum(x.unavailable for x in tallies),
                sum(x.errors for x in tallies), time.process_time() - cpu, first)  # fmt: skip


def _client(
    target: Target, settings: Settings, index: int, procs: int, threads: int, conn: Connection
) -> None:
    """A client process: runs each phase the parent names until its deadline, then answers."""
    client = _Client(target, settings, index, procs, threads)
    conn.send("ready")  # connected: the phases' clocks start only once every process is
    while True:
        message = conn.recv()
        if message is None:
            return
        conn.send(client.phase(*message))


# --- measurement ---------------------------------------------------------------------------------


def _server_cpu(port: int) -> float:
    with redis.Redis(port=port, socket_timeout=5) as client:
        info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@dataclass
class PhaseResult:
    phase: str
    items: int  # logins through this phase (a send is two Lua steps)
    unavailable: int  # steps that met StoreUnavailable (Redis silent past the 5 s timeout)
    errors: int  # steps that did not do what the product expects: the run failed
    aof_delayed_fsync: int  # INFO's count of writes held back by a slow AOF fsync
    wall_s: float
    items_per_s: float
    server_us_per_item: float  # the masters' CPU per item
    server_us_per_lua_step: float
    busiest_us_per_item: float  # the busiest master's: the store's master on a cluster
    server_cores: float  # the masters' CPU / wall: near 1.0, Redis was the bottleneck
    client_cores: float
    other_cores: float  # the rest of the machine: replicas, sentinels, other work
    steal_cores: float  # what the hypervisor took
    ceiling_items_per_s: float  # one core / the busiest master's CPU per item
    by_node_us_per_item: dict[str, float] = field(default_factory=dict)


@dataclass
class TargetResult:
    name: str
    masters: int
    replicas: int
    connections: int
    idle_cores: dict[str, float]  # each node's CPU with no client working
    phases: dict[str, PhaseResult]
    sms_server_us: float  # the masters' CPU for create + claim_send + store_sent
    login_server_us: float  # ... + verify
    sms_per_s: float  # the ceiling: one core of the busiest master / its CPU per SMS
    logins_per_s: float


@dataclass
class Topo:
    """A running Redis topology: the target, and which ports are masters and replicas."""

    name: str
    target: Target
    masters: dict[str, int]
    replicas: dict[str, int]
    aof: bool = False  # AOF on every node, fsync every second (compose's store)


def _phase(
    phase: str, pipes: list[Connection], nodes: dict[str, int], topo: Topo, seconds: float
) -> PhaseResult:
    before = {n: _server_cpu(p) for n, p in nodes.items()}
    fsyncs = {n: _delayed_fsyncs(nodes[n]) for n in topo.masters}
    (busy0, steal0), t0 = machine_busy_seconds(), time.monotonic()
    for pipe in pipes:
        pipe.send((phase, t0 + seconds))
    answers = [pipe.recv() for pipe in pipes]
    wall = time.monotonic() - t0
    busy1, steal1 = machine_busy_seconds()
    busy, steal = busy1 - busy0, steal1 - steal0
    used = {n: _server_cpu(p) - before[n] for n, p in nodes.items()}
    items, unavailable = sum(x[0] for x in answers), sum(x[1] for x in answers)
    errors, client = sum(x[2] for x in answers), sum(x[3] for x in answers)
    delayed = sum(_delayed_fsyncs(nodes[n]) - fsyncs[n] for n in topo.masters)
    for message in {x[4] for x in answers if x[4]}:
        print(f"  {phase}: {message}", file=sys.stderr)
    server = sum(used[n] for n in topo.masters)
    per, busiest = server / max(items, 1), max(used[n] for n in topo.masters) / max(items, 1)
    return PhaseResult(
        phase=phase,
        items=items,
        unavailable=unavailable,
        errors=errors,
        aof_delayed_fsync=delayed,
        wall_s=round(wall, 2),
        items_per_s=round(items / wall, 1),
        server_us_per_item=round(per * 1e6, 1),
        server_us_per_lua_step=round(per * 1e6 / LUA_STEPS[phase], 1),
        busiest_us_per_item=round(busiest * 1e6, 1),
        server_cores=round(server / wall, 2),
        client_cores=round(client / wall, 2),
        other_cores=round(max(busy - server - client, 0.0) / wall, 2),
        steal_cores=round(steal / wall, 2),
        ceiling_items_per_s=round(1 / busiest if busiest else 0.0, 0),
        by_node_us_per_item={n: round(u / max(items, 1) * 1e6, 1) for n, u in used.items()},
    )


def _delayed_fsyncs(port: int) -> int:
    with redis.Redis(port=port, socket_timeout=5) as client:
        return int(client.info("persistence").get("aof_delayed_fsync", 0))


def _idle(nodes: dict[str, int], seconds: float) -> dict[str, float]:
    """Each node's CPU (cores) with no client working: a cluster's bus and crons cost this."""
    before = {n: _server_cpu(p) for n, p in nodes.items()}
    time.sleep(seconds)
    return {n: round((_server_cpu(p) - before[n]) / seconds, 3) for n, p in nodes.items()}


def _append_only(ports: list[int]) -> None:
    """AOF on, fsync every second, as compose runs the store; ready once the first rewrite
    (the file's start) is done."""
    for port in ports:
        with redis.Redis(port=port, socket_timeout=10) as client:
            client.config_set("appendfsync", "everysec")
            client.config_set("appendonly", "yes")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                info = client.info("persistence")
                if info.get("aof_enabled") and not info.get("aof_rewrite_in_progress"):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("AOF did not start")


def measure(topo: Topo, a: argparse.Namespace) -> TargetResult:
    settings = bench_settings()
    aof = a.aof or topo.aof
    if aof:
        _append_only([*topo.masters.values(), *topo.replicas.values()])
    warm = Steps(topo.target.store(), settings)  # loads every script on the master once
    login = warm.create(10**7 - 1)  # a phone no client process reaches
    warm.send(login)
    warm.verify(login)
    warm.store.close()
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for i in range(a.procs):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_client, args=(topo.target, settings, i, a.procs, a.threads, child)
        )
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    nodes = {**topo.masters, **topo.replicas}
    try:
        for pipe in pipes:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("a client process did not start")
        idle = _idle(nodes, 1.0)
        phases = {p: _phase(p, pipes, nodes, topo, a.seconds) for p in PHASES}
    finally:
        for pipe in pipes:
            pipe.send(None)
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    sms = phases["create"].server_us_per_item + phases["send"].server_us_per_item
    login_us = sms + phases["verify"].server_us_per_item
    sms_busiest = phases["create"].busiest_us_per_item + phases["send"].busiest_us_per_item
    login_busiest = sms_busiest + phases["verify"].busiest_us_per_item
    name = topo.name + (", AOF everysec" if aof else "")
    return TargetResult(
        name, len(topo.masters), len(topo.replicas), a.procs * a.threads, idle, phases,
        round(sms, 1), round(login_us, 1), round(1e6 / sms_busiest, 0),
        round(1e6 / login_busiest, 0),
    )  # fmt: skip


def _prefix() -> str:
    return f"c{secrets.token_hex(3)}:"


@contextmanager
def one_server(aof: bool = False) -> Iterator[Topo]:
    url, proc, tmp = start_redis()
    try:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        yield Topo("one server", Target(Topology(url), _prefix()), {"server": port}, {}, aof)
    finally:
        proc.terminate()
        proc.wait(10)
        tmp.cleanup()


@contextmanager
def sentinel() -> Iterator[Topo]:
    """A master, its replica and three sentinels; the store follows the master as in
    production (``REDIS_SENTINELS``)."""
    group = start_sentinel_group()
    try:
        master = group.master_port()
        assert master is not None
        topology = Topology.of("redis://127.0.0.1/0", sentinels=group.sentinels,
                               master=MASTER_NAME)  # fmt: skip
        replicas = {f"replica {p}": p for p in group.data_ports if p != master}
        yield Topo("Sentinel: master + replica", Target(topology, _prefix()),
                   {"master": master}, replicas)  # fmt: skip
    finally:
        group.close()


@contextmanager
def three_masters(replicas: int) -> Iterator[Topo]:
    cluster = start_cluster(masters=3, replicas=replicas)
    try:
        target = Target(Topology.of(cluster.url, cluster=True), _prefix())
        # The store's slot: any of its keys names it (they all carry the same tag).
        home = cluster.master_of(Keys(target.prefix, cluster=True).totals)
        ports = cluster.masters()
        masters = {("store's master" if p == home else f"master {p}"): p for p in ports}
        others = {f"replica {p}": p for p in cluster.ports if p not in ports}
        name = f"cluster: 3 masters x {replicas} replica{'' if replicas == 1 else 's'}"
        yield Topo(name, target, masters, others)
    finally:
        cluster.close()


def _print(r: TargetResult) -> None:
    print(f"\n[{r.name}] {r.masters} master(s), {r.replicas} replica(s), "
          f"{r.connections} client connections")  # fmt: skip
    idle = ", ".join(f"{n} {c:.3f}" for n, c in r.idle_cores.items())
    print(f"  idle, cores by node: {idle}")
    print(f"  {'phase':7} {'items/s':>8} {'masters us/item':>15} {'busiest us/item':>15} "
          f"{'srv cores':>9} {'clients':>7} {'other':>5} {'steal':>5} {'ceiling/s':>9} "
          "unavail errors")  # fmt: skip
    for p in r.phases.values():
        print(f"  {p.phase:7} {p.items_per_s:8.0f} {p.server_us_per_item:15.0f} "
              f"{p.busiest_us_per_item:15.0f} {p.server_cores:9.2f} {p.client_cores:7.2f} "
              f"{p.other_cores:5.2f} {p.steal_cores:5.2f} {p.ceiling_items_per_s:9.0f} "
              f"{p.unavailable:7} {p.errors}")  # fmt: skip
        if p.aof_delayed_fsync:
            print(f"          AOF: {p.aof_delayed_fsync} times writes waited for a slow fsync")
        if len(p.by_node_us_per_item) > 1:
            nodes = ", ".join(f"{n} {u:.0f}" for n, u in p.by_node_us_per_item.items())
            print(f"          us/item by node: {nodes}")
    print(f"  masters' CPU per SMS (create + claim + store) {r.sms_server_us:.0f} us, per login "
          f"(+ verify) {r.login_server_us:.0f} us; ceiling on one core of the busiest master: "
          f"{r.sms_per_s:.0f} SMS/s, {r.logins_per_s:.0f} logins/s")  # fmt: skip


def _medians(results: list[TargetResult]) -> dict[str, dict[str, float]]:
    """Per target, the median over rounds of each phase's busiest master CPU per item and of
    the ceilings."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r.name for r in results):
        mine = [r for r in results if r.name == name]
        row = {f"{p}_us": statistics.median(r.phases[p].busiest_us_per_item for r in mine)
               for p in PHASES}  # fmt: skip
        row["masters_us_per_sms"] = statistics.median(r.sms_server_us for r in mine)
        row["sms_per_s"] = statistics.median(r.sms_per_s for r in mine)
        row["logins_per_s"] = statistics.median(r.logins_per_s for r in mine)
        row["server_cores_max"] = max(p.server_cores for r in mine for p in r.phases.values())
        out[name] = row
    return out


def _print_medians(medians: dict[str, dict[str, float]], rounds: int) -> None:
    print(f"\nmedians of {rounds} rounds, busiest master's CPU per item (us) and the ceiling:")
    print(f"  {'target':34} {'floor':>5} {'publish':>7} {'create':>6} {'send':>5} {'verify':>6} "
          f"{'SMS/s':>6} {'logins/s':>8}")  # fmt: skip
    for name, m in medians.items():
        print(f"  {name:34} {m['floor_us']:5.0f} {m['publish_us']:7.0f} {m['create_us']:6.0f} "
              f"{m['send_us']:5.0f} {m['verify_us']:6.0f} {m['sms_per_s']:6.0f} "
              f"{m['logins_per_s']:8.0f}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="2 s phases (a smoke run)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--threads", type=int, default=2, help="threads (connections) per process")
    ap.add_argument("--replicas", type=int, default=1, help="replicas per cluster master")
    ap.add_argument("--targets", default="server,sentinel,cluster",
                    help="comma-separated: server, server-aof, sentinel, cluster")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every target, interleaved")
    ap.add_argument("--aof", action="store_true", help="AOF on every node, fsync every second")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rounds = min(a.seconds, 2.0), 1
    load0, speed0 = os.getloadavg(), calibration_ms()
    topologies: dict[str, Callable[[], AbstractContextManager[Topo]]] = {
        "server": one_server,
        "server-aof": lambda: one_server(aof=True),
        "sentinel": sentinel,
        "cluster": lambda: three_masters(a.replicas),
    }
    names = [n.strip() for n in a.targets.split(",")]
    results: list[TargetResult] = []
    for _ in range(a.rounds):  # interleaved: a slow spell of the machine hits every target
        for name in names:
            with topologies[name]() as topo:
                results.append(measure(topo, a))
            _print(results[-1])
    medians = _medians(results)
    if a.rounds > 1:
        _print_medians(medians, a.rounds)
    load1, speed1 = os.getloadavg(), calibration_ms()
    print(f"\nload average before {load0[0]:.1f}, after {load1[0]:.1f}; {os.cpu_count()} CPUs; "
          f"machine speed (ms, start/end) {speed0:.0f} / {speed1:.0f}")  # fmt: skip
    if a.json:
        doc = {
            "args": {k: v for k, v in vars(a).items() if k != "json"},
            "machine": machine(),
            "calibration_ms": [speed0, speed1],
            "loadavg_before": load0,
            "loadavg_after": load1,
            "targets": [asdict(r) for r in results],
            "medians": medians,
        }
        a.json.write_text(json.dumps(doc, indent=2))
    errors = sum(p.errors for r in results for p in r.phases.values())
    if errors:
        print(f"store_ceiling: {errors} steps failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
