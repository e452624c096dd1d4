"""Highly available Redis on loopback for the tests and the benchmarks: a master, a replica and
three sentinels, or a Redis Cluster of masters each with a replica. Real ``redis-server``
processes, nothing kept on disk, every one stopped by ``close()``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from worker.dev.devstack import free_port, redis_answers, redis_server_binary, wait_until

__all__ = ["RedisCluster", "SentinelGroup", "start_cluster", "start_sentinel_group"]

MASTER_NAME = "targetsms"


@dataclass
class _Servers:
    tmp: tempfile.TemporaryDirectory[str]
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, port: int, *args: str) -> subprocess.Popen[bytes]:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server found: install Redis")
        workdir = Path(self.tmp.name) / str(port)
        workdir.mkdir(exist_ok=True)
        proc = subprocess.Popen(
            [binary, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
             "--daemonize", "no", "--loglevel", "warning", "--logfile", str(workdir / "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.procs[port] = proc
        return proc

    def kill(self, port: int) -> None:
        """SIGKILL: the server gets no chance to tell anyone."""
        proc = self.procs[port]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.tmp.cleanup()


# Nothing on disk; a master streams its first sync to a replica at once (Redis 7 waits 5 s by
# default for more replicas to join, and a replica that has not synced yet is no failover target).
_DISKLESS = ("--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")


def _client(port: int) -> Any:
    """A short-timeout client (Any: redis-py types cluster and sentinel replies loosely)."""
    return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1, decode_responses=True)


@dataclass
class SentinelGroup:
    """A master, a replica and three sentinels watching them under ``MASTER_NAME``."""

    servers: _Servers
    data_ports: list[int]
    sentinel_ports: list[int]
    down_after_ms: int

    @property
    def sentinels(self) -> str:
        """The ``REDIS_SENTINELS`` value."""
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def master_port(self) -> int | None:
        """Where the sentinels say the master is (None while they cannot say)."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError, OSError):
                addr = _client(port).sentinel_get_master_addr_by_name(MASTER_NAME)
                if addr:
                    return int(addr[1])
        return None

    def replica_in_sync(self) -> bool:
        master = self.master_port()
        if master is None:
            return False
        with contextlib.suppress(redis.RedisError, OSError):
            info = _client(master).info("replication")
            replica = info.get("slave0") or {}
            return isinstance(replica, dict) and replica.get("state") == "online"
        return False

    def kill_master(self) -> int:
        port = self.master_port()
        assert port is not None, "no master to kill"
        self.servers.kill(port)
        return port

    def close(self) -> None:
        self.servers.close()


def start_sentinel_group(down_after_ms: int = 1000) -> SentinelGroup:
    """Ready when both data servers answer, the replica is in sync and every sentinel knows
    the master and the other sentinels (a quorum of two can elect)."""
    servers = _Servers(tempfile.TemporaryDirectory(prefix="targetsms-sentinel-"))
    try:
        master, replica = free_port(), free_port()
        servers.spawn(master, *_DISKLESS)
        servers.spawn(replica, *_DISKLESS, "--replicaof", "127.0.0.1", str(master))
        sentinel_ports = [free_port() for _ in range(3)]
        for port in sentinel_ports:
            conf = Path(servers.tmp.name) / f"sentinel-{port}.conf"
            conf.write_text(
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            servers.spawn(port, str(conf), "--sentinel")
        group = SentinelGroup(servers, [master, replica], sentinel_ports, down_after_ms)

        def ready() -> bool:
            if not group.replica_in_sync():
                return False
            for port in sentinel_ports:
                try:
                    state = _client(port).sentinel_master(MASTER_NAME)
                except (redis.RedisError, OSError):
                    return False
                if (
                    int(state.get("num-other-sentinels", 0)) < 2
                    or int(state.get("num-slaves", 0)) < 1
                ):
                    return False
            return True

        wait_until(ready, 30, "sentinel group", interval=0.1, alive=list(servers.procs.values()))
        return group
    except BaseException:
        servers.close()
        raise


@dataclass
class RedisCluster:
    """``masters`` masters, each with one replica, slots spread by ``redis-cli --cluster``."""

    servers: _Servers
    ports: list[int]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def masters(self) -> list[int]:
        """Ports of the masters every live node agrees on (a failed one is left out)."""
        return sorted(
            port
            for port, flags in _nodes(self._alive()[0]).items()
            if "master" in flags and "fail" not in flags
        )

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot, as that master says of itself.

        Each node is asked about its own line (``myself``): right after a failover the other
        nodes may still list the dead master as failed and its promoted replica as a replica,
        while the promoted node already serves the slot (gossip takes a moment to spread)."""
        alive = self._alive()
        slot = int(_client(alive[0]).execute_command("CLUSTER", "KEYSLOT", key))
        for port in alive:
            for line in str(_client(port).execute_command("CLUSTER", "NODES")).splitlines():
                _, flags, *rest = line.split()[1:]
                if "myself" not in flags or "master" not in flags:
                    continue
                for lo, _, hi in (r.partition("-") for r in rest[5:]):
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return port
        raise LookupError(f"no master serves slot {slot}")

    def _alive(self) -> list[int]:
        return [p for p in self.ports if self.servers.procs[p].poll() is None]

    def healthy(self) -> bool:
        """Every live node says the cluster is ok."""
        return _all_ok(self._alive())

    def kill(self, port: int) -> None:
        self.servers.kill(port)

    def close(self) -> None:
        self.servers.close()


def start_cluster(masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> RedisCluster:
    """A node on port P also needs P + 10000 (the cluster bus): both are checked free."""
    servers = _Servers(tempfile.TemporaryDirectory(prefix="targetsms-cluster-"))
    try:
        ports: list[int] = []
        while len(ports) < masters * (1 + replicas):
            port = free_port()
            if port + 10000 < 65536 and port not in ports and _free(port + 10000):
                ports.append(port)
        for port in ports:
            servers.spawn(
                port, *_DISKLESS, "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(node_timeout_ms),
            )  # fmt: skip
        for port in ports:
            url = f"redis://127.0.0.1:{port}"
            wait_until(functools.partial(redis_answers, url), 15, "cluster node")
        _create(ports, replicas)
        cluster = RedisCluster(servers, ports)
        wait_until(lambda: _all_ok(ports), 30, "cluster state ok", interval=0.1)
        # A replica that has not finished its first sync would never take over its master.
        wait_until(lambda: _replicas_synced(ports), 30, "replicas synced", interval=0.1)
        return cluster
    except BaseException:
        servers.close()
        raise


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _create(ports: Sequence[int], replicas: int) -> None:
    subprocess.run(
        ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
         "--cluster-replicas", str(replicas), "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _replicas_synced(ports: Sequence[int]) -> bool:
    try:
        infos = [_client(p).info("replication") for p in ports]
    except (redis.RedisError, OSError):
        return False
    return all(i.get("master_link_status") == "up" for i in infos if i.get("role") == "slave")


def _all_ok(ports: Sequence[int]) -> bool:
    try:
        return all(_cluster_info(p).get("cluster_state") == "ok" for p in ports)
    except (redis.RedisError, OSError):
        return False


def _cluster_info(port: int) -> dict[str, str]:
    text = str(_client(port).execute_command("CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _nodes(port: int) -> dict[int, str]:
    """port -> flags, from ``CLUSTER NODES`` as one node sees it."""
    text = str(_client(port).execute_command("CLUSTER", "NODES"))
    return {_port(line.split()[1]): line.split()[2] for line in text.splitlines() if line}


def _port(addr: str) -> int:
    return int(addr.split("@")[0].rsplit(":", 1)[1])
