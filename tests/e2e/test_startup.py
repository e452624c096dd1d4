"""Processes as they start and stop: a bad configuration refuses to start in one line, a fresh
interpreter that imports the exporter builds no Celery app (nor one that imports the API or
builds the command line its HTTP, XML and Celery stack), the sandbox's own command serves and
stops on a signal. The subprocess is the point of each."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers import GatewayAt, gateway_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "celery", "-A", "worker", "worker"],
        [sys.executable, "-m", "worker.ops.cli", "send", "+79001234567"],
    ],
    ids=["worker", "cli"],
)
def test_bad_settings_refuse_to_start_with_one_line(argv: list[str]) -> None:
    env = {"PATH": "/usr/bin:/bin", "OTP_CODE_LENGTH": "3", "TARGETSMS_PASSWORD": "hunter2"}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "invalid settings" in lines[0] and "OTP_CODE_LENGTH" in lines[0]
    assert "Traceback" not in out.stderr and "hunter2" not in out.stderr + out.stdout


def test_importing_the_exporter_builds_no_celery_app_and_patches_nothing() -> None:
    probe = (
        "import json, sys\n"
        "import worker.ops.metrics\n"
        "from kombu.transport import TRANSPORT_ALIASES\n"
        "print(json.dumps({'celery_app': 'worker.queue.celery_app' in sys.modules,\n"
        "                  'redis': TRANSPORT_ALIASES['redis']}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout)
    assert seen == {"celery_app": False, "redis": "kombu.transport.redis:Transport"}


def test_the_api_and_the_command_import_no_http_xml_or_celery_stack() -> None:
    """A web app's ``import worker`` and every ``targetsms`` command (it builds all subcommands)
    start without requests, lxml, tenacity or Celery: each is imported where it is used."""
    probe = (
        "import sys, worker, worker.ops.cli.parser as p; p.build_parser();"
        "print(sorted(m for m in ('requests', 'lxml', 'tenacity', 'celery') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_sandbox_cli_prints_its_port_and_stops_cleanly(signum: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "worker.dev.sandbox", "--port", "0"]
    cmd += ["--login", "u", "--password", "s3cret-pw", "--verbose"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"fake-gateway listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match, line
        url = match.group(1)
        assert requests.get(f"{url}/healthz", timeout=5).text == "ok"
        client = gateway_client(GatewayAt(int(match.group(2))), login="u", password="s3cret-pw")
        sent = client.send_code("+79001234567", text="TestShop: код {код}", code_length=6)
        client.close()
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
        output = proc.stdout.read() + proc.stderr.read()
        assert "Traceback" not in output
        assert "/password_generation/api.php" in output  # --verbose logs requests ...
        assert "s3cret-pw" not in output and sent.code not in output  # ... no secrets
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
