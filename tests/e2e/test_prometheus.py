"""A real Prometheus scrapes ``targetsms metrics`` (a subprocess) after real sends by a worker
subprocess through the sandbox, loads deploy/prometheus/alerts.yml, and answers queries: the
counts, and every dashboard and alert expression, as Prometheus itself evaluates them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from helpers import Sandbox, WorkerProcess, make_settings, require_tool, wait_until

from worker import get_status, request_code, verify_code
from worker.dev.devstack import free_port
from worker.runtime import Runtime
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "targetsms.json"


def _metrics_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "worker.ops.cli", "metrics", *args]


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def exporter(runtime: Runtime, tmp_path: Path) -> Iterator[str]:
    """``targetsms metrics`` as deployed: its own process, settings from the environment."""
    port = free_port()
    log = tmp_path / "exporter.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            _metrics_cli("--port", str(port)),
            env=_env(runtime.settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(f"http://{url}/metrics"), 20, "the exporter", alive=[proc])
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in log.read_text()


@pytest.fixture
def prometheus(exporter: str, tmp_path: Path) -> Iterator[str]:
    binary = require_tool("prometheus", "prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": "targetsms", "static_configs": [{"targets": [exporter]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(f"{url}/-/ready"), 30, "Prometheus to be ready", alive=[proc])
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def _get(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def query(prometheus: str, expr: str) -> dict[str, Any]:
    response = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = response.json()
    assert body["status"] == "success", (expr, body)
    return body


def scalar(prometheus: str, expr: str) -> float | None:
    result = query(prometheus, expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_counts_of_real_sends(
    runtime: Runtime,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    prometheus: str,
) -> None:
    start_worker(runtime.settings)
    phones = ("+79001230001", "+79001230002", "+79001230003")
    ids = [request_code(phone).id for phone in phones]
    failed = request_code("+79990000202").id  # "insufficient funds": fails with no_funds
    for verification_id in (*ids, failed):
        wait_until(lambda i=verification_id: get_status(i).state in ("sent", "failed"), 30)
    assert get_status(failed).state == "failed"
    assert verify_code(ids[0], sandbox.last_code(phones[0])).ok
    assert verify_code(ids[1], "000000").reason == "wrong"

    def seen(expr: str, expected: float) -> bool:
        return scalar(prometheus, expr) == expected

    wait_until(lambda: seen("targetsms_sms_sent_total", 3), 30, "3 sends in Prometheus")
    wait_until(lambda: seen('targetsms_verifications_total{result="ok"}', 1), 30, "a verify")
    assert scalar(prometheus, 'targetsms_verifications_total{result="wrong"}') == 1
    assert scalar(prometheus, 'targetsms_sms_failed_total{code="no_funds"}') == 1
    # Deliveries: the worker polls the sandbox, which delivers after 300 ms.
    wait_until(
        lambda: seen('targetsms_delivery_status_total{status="deliver"}', 3), 30, "3 deliveries"
    )
    sends = scalar(prometheus, 'targetsms_gateway_request_seconds_count{endpoint="send"}')
    assert sends == sandbox.stats()["password_generation"] == 4
    p99 = scalar(
        prometheus,
        "histogram_quantile(0.99, sum by (le) "
        '(targetsms_gateway_request_seconds_bucket{endpoint="send"}))',
    )
    assert p99 is not None and 0 < p99 <= 30
    assert scalar(prometheus, "targetsms_balance") == 1000.0  # cached from the first scrape
    assert scalar(prometheus, "targetsms_balance_alert_below") == 100.0
    assert scalar(prometheus, "targetsms_conversion_ratio") == pytest.approx(1 / 4)
    assert scalar(prometheus, 'targetsms_queue_depth{queue="targetsms.send"}') is not None
    assert scalar(prometheus, "min(targetsms_up)") == 1
    assert sandbox.stats()["balance"] == 1  # scraped every second, asked once

    # The dashboard's and the alerts' expressions all evaluate in a real Prometheus.
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            query(prometheus, target["expr"].replace("$__rate_interval", "1m"))
    groups = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    names = {r["name"] for r in rules}
    assert len(rules) == len(yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"])
    assert "TargetSMSBalanceLow" in names
    wait_until(
        lambda: all(
            r["health"] == "ok"
            for g in requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
            for r in g["rules"]
        ),
        15,
        "every alert evaluated without error",
    )


def test_metrics_cli_fails_in_one_line(redis_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    settings = make_settings(redis_url, sandbox)
    taken = free_port()
    first = subprocess.Popen(
        _metrics_cli("--port", str(taken)),
        env=_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{taken}/metrics"), 20, "the first exporter")
        second = subprocess.run(
            _metrics_cli("--port", str(taken)),
            env=_env(settings),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        first.terminate()
        first.wait(10)
    assert second.returncode == 1
    assert second.stderr.startswith(f"targetsms: cannot serve metrics on 127.0.0.1:{taken}")
    assert len(second.stderr.strip().splitlines()) == 1

    env = {k: v for k, v in _env(settings).items() if k != "TARGETSMS_LOGIN"}
    bad = subprocess.run(_metrics_cli(), env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert "TARGETSMS_LOGIN is required" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
