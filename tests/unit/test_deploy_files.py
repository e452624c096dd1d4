"""No Docker engine runs here, so this keeps docker-compose.yml, the Procfile, the env examples,
the Dockerfile and the lock file honest by reading them: the same commands and environment
everywhere, every setting reaching the containers, no secret on a command line, healthchecks,
restart policies and persistent Redis. What ``compose config`` resolves for the containers runs
a compose binary, so it is in the e2e tier (tests/e2e/test_compose_config.py)."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_files import (
    APP_SERVICES,
    COMPOSE_ENV,
    ROOT,
    SETTINGS,
    compose,
    compose_file,
    env_file,
    procfile,
)
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Bind addresses legitimately differ: loopback on a host, all interfaces inside a container.
_BIND = re.compile(r"--(address|host)[= ](\S+)")
SECRET_WORDS = ("PASSWORD", "SECRET", "BASIC_AUTH", "--password", "--basic-auth", "--basic_auth")


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else shlex.join(command)


def normalized(command: str) -> list[str]:
    return shlex.split(_BIND.sub("--bind-address", command))


def test_every_procfile_process_is_a_compose_service_with_the_same_command() -> None:
    services = compose()
    assert set(procfile()) == {"worker", "flower", "gateway", "metrics", "api", "webhook-relay"}
    for name, command in procfile().items():
        assert name in services, f"Procfile process {name!r} has no compose service"
        assert normalized(command_text(services[name])) == normalized(command), name
    assert procfile()["metrics"] == "targetsms metrics --host 127.0.0.1 --port 9808"
    assert command_text(services["metrics"]) == "targetsms metrics --host 0.0.0.0 --port 9808"


def test_no_secret_and_no_interpolation_on_any_command_line() -> None:
    """`ps` shows a command line to every user of the host: settings come from the
    environment (env_file / .env), so commands name no variable at all."""
    commands = {f"Procfile {k}": v for k, v in procfile().items()}
    for name, service in compose().items():
        commands[f"compose {name}"] = command_text(service)
        healthcheck = service.get("healthcheck", {}).get("test", [])
        commands[f"compose {name} healthcheck"] = " ".join(healthcheck)
    for where, command in commands.items():
        assert not re.search(r"\$\{?[A-Z]", command.replace("$$HOSTNAME", "")), where
        assert not any(word.lower() in command.lower() for word in SECRET_WORDS), where
    # Nothing in the compose file is interpolated from the shell either.
    assert "${" not in (ROOT / "docker-compose.yml").read_text()


def test_every_setting_reaches_every_app_service_through_env_file() -> None:
    services = compose()
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["env_file"] == [COMPOSE_ENV], name
        # An `environment:` entry would override (or be mistaken for) the env file's value.
        assert "environment" not in service, name
    for name in ("prometheus", "grafana", "redis"):
        assert COMPOSE_ENV not in str(services[name].get("env_file", "")), name  # no app secrets
    assert COMPOSE_ENV in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_long_running_services_have_healthchecks_restart_and_wait_for_health() -> None:
    services = compose()
    for name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must wait for a condition"
        for dependency, condition in depends.items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency], dependency
    for name in ("worker", "flower", "metrics"):
        assert "redis" in services[name]["depends_on"], name


def test_redis_keeps_its_data_and_is_reachable_from_the_host_only() -> None:
    redis = compose()["redis"]
    command = command_text(redis)
    assert "--appendonly yes" in command
    assert any(v.endswith(":/data") and v.split(":")[0] in compose_file()["volumes"]
               for v in redis["volumes"])  # fmt: skip
    assert redis["ports"] == ["127.0.0.1:6379:6379"]
    for name, service in compose().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_worker_is_scalable_flower_needs_auth_profiles() -> None:
    services = compose()
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N works
    assert "FLOWER_BASIC_AUTH" in env_file(".env.example")
    assert "FLOWER_BASIC_AUTH" in env_file("compose.env.example")
    assert services["gateway"]["profiles"] == ["dev"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    for name in ("redis", "worker", "flower", "metrics"):
        assert "profiles" not in services[name], name


def mounts(service: str) -> dict[str, str]:
    """Bind mounts of a service: container path -> repository-relative source path."""
    out = {}
    for volume in compose()[service]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = source[2:]
    return out


def test_monitoring_profile_is_provisioned_from_the_deploy_files() -> None:
    prometheus = mounts("prometheus")
    assert prometheus["/etc/prometheus/prometheus.yml"] == "deploy/prometheus/prometheus.yml"
    assert prometheus["/etc/prometheus/alerts.yml"] == "deploy/prometheus/alerts.yml"
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    targets = [t for job in config["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]]  # fmt: skip
    assert targets == ["metrics:9808"]

    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == "deploy/grafana/provisioning"
    dashboard_target = next(t for t, s in grafana.items() if s == "deploy/grafana/targetsms.json")
    provisioning = ROOT / "deploy/grafana/provisioning"
    datasources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    assert [d["url"] for d in datasources["datasources"]] == ["http://prometheus:9090"]
    providers = yaml.safe_load((provisioning / "dashboards/targetsms.yml").read_text())
    assert [p["options"]["path"] for p in providers["providers"]] == [
        str(Path(dashboard_target).parent)
    ]


def new_env(example: str, tmp_path: Path) -> dict[str, str]:
    """What `scripts/new-env EXAMPLE OUT` writes, read back."""
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / f"{example}.out"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/new-env"), str(ROOT / example), str(out)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o077 == 0  # secrets: owner only
    again = subprocess.run(
        ["bash", str(ROOT / "scripts/new-env"), str(ROOT / example), str(out)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert again.returncode == 1 and "not overwritten" in again.stderr
    return dict(
        line.split("=", 1)
        for line in out.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )


@pytest.mark.parametrize("example", [".env.example", "compose.env.example"])
def test_the_env_examples_hold_no_usable_secret(example: str, tmp_path: Path) -> None:
    from worker.core.secrets import GENERATE_HINT, flower_auth_problems
    from worker.settings import Settings, SettingsError

    shipped = env_file(example)
    assert shipped["OTP_SECRET_KEY"] == "" and shipped["FLOWER_BASIC_AUTH"] == ""
    assert GENERATE_HINT in (ROOT / example).read_text()
    with pytest.raises(SettingsError) as info:
        Settings.from_env(shipped)
    assert [p for p in info.value.problems if "OTP_SECRET_KEY" in p] == info.value.problems
    assert flower_auth_problems(shipped["FLOWER_BASIC_AUTH"])
    # scripts/new-env fills each secret with its own random value, and only the secrets.
    first, second = new_env(example, tmp_path / "a"), new_env(example, tmp_path / "b")
    for name in ("OTP_SECRET_KEY", "FLOWER_BASIC_AUTH"):
        assert first[name] and first[name] != second[name]
    assert flower_auth_problems(first["FLOWER_BASIC_AUTH"]) == []
    assert {k: v for k, v in first.items() if k not in ("OTP_SECRET_KEY", "FLOWER_BASIC_AUTH")} == {
        k: v for k, v in shipped.items() if k not in ("OTP_SECRET_KEY", "FLOWER_BASIC_AUTH")
    }
    assert Settings.from_env(first).problems() == []


def test_the_env_examples_are_valid_settings_for_their_place(tmp_path: Path) -> None:
    from worker.settings import Settings

    host, containers = env_file(".env.example"), env_file("compose.env.example")
    assert set(host) <= SETTINGS and set(containers) <= SETTINGS
    assert Settings.from_env(new_env(".env.example", tmp_path)).gateway.sender == "target"
    assert Settings.from_env(new_env("compose.env.example", tmp_path)).gateway.sender == "target"
    # The host file points at loopback (honcho's processes); the compose file at service names.
    assert "127.0.0.1" in host["REDIS_URL"] and "127.0.0.1" in host["TARGETSMS_URL"]
    assert not any("127.0.0.1" in v or "localhost" in v for v in containers.values())
    assert containers["REDIS_URL"].startswith("redis://redis:")
    for name in (".env.example", "compose.env.example"):
        text = (ROOT / name).read_text()
        assert "OTP_REDIS_PREFIX" in text and "OTP_TTL_SECONDS" in text, name


def lock() -> dict[str, str]:
    """requirements.lock: canonical name -> pinned version; every pin carries hashes."""
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{match[1]} has no hash"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_the_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = lock()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock (re-run pip-compile)"
        assert req.specifier.contains(pins[name], prereleases=True), (spec, pins[name])
    assert "redis" in pins and "flower" in pins


def test_the_image_installs_the_lock_and_runs_as_a_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    runs = [line for line in lines if line.startswith("RUN ")]
    assert any("pip install -r requirements.lock" in r for r in runs)
    assert any("pip install --no-deps ." in r for r in runs)
    assert runs.index(next(r for r in runs if "requirements.lock" in r)) < runs.index(
        next(r for r in runs if "--no-deps" in r)
    )
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_the_build_context_holds_no_virtualenv_and_no_secrets() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "start from nothing and add what the Dockerfile copies"
    included = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert not included & {".venv", ".env", COMPOSE_ENV, ".git"}
    copied = set(re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M))
    for sources in copied:
        for source in sources.split():
            assert source in included, f"Dockerfile copies {source}, .dockerignore leaves it out"
