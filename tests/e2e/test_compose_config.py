"""What ``compose config`` resolves from docker-compose.yml for the containers (no Docker engine
needed: Debian's docker-compose reads the file and the env file, and starts nothing). The file
itself is read by tests/unit/test_deploy_files.py; this runs the compose binary, so it is e2e."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml
from deploy_files import APP_SERVICES, COMPOSE_ENV, ROOT, SETTINGS, compose
from helpers import require_tool


def compose_binary() -> list[str] | None:
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) is None:
            continue
        ok = subprocess.run([*argv, "version"], capture_output=True, timeout=30)
        if ok.returncode == 0:
            return argv
    return None


def test_compose_config_gives_the_worker_every_setting(tmp_path: Path) -> None:
    """What `compose config` resolves for the worker: every variable written in compose.env,
    OTP_REDIS_PREFIX and OTP_TTL_SECONDS included."""
    # Without either, skipped (the YAML tests in the unit tier still ran), or failed under CI.
    argv = compose_binary() or [require_tool("docker-compose", "docker-compose")]
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    values = {name: f"value-{i}" for i, name in enumerate(sorted(SETTINGS))}
    (tmp_path / COMPOSE_ENV).write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    profiles = ["--profile", "dev", "--profile", "monitoring"]
    out = subprocess.run(
        [*argv, *profiles, "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)["services"]
    assert set(resolved) == set(compose())
    for name in APP_SERVICES:
        assert resolved[name]["environment"] == values, name
