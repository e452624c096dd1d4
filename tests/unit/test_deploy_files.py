"""No Docker engine runs here, so this keeps docker-compose.yml and the Procfile in step: the
same commands and the same environment names, and every process type in both."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from worker.settings import variables

ROOT = Path(__file__).resolve().parents[2]
# Bind addresses legitimately differ: loopback on a host, all interfaces inside a container.
_BIND = re.compile(r"--(address|host)[= ](\S+)")


def procfile() -> dict[str, str]:
    out = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            out[name.strip()] = command.strip()
    return out


def compose() -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text()
    )["services"]
    return services


def normalized(command: str) -> list[str]:
    return shlex.split(_BIND.sub("--bind-address", command))


def test_every_procfile_process_is_a_compose_service_with_the_same_command() -> None:
    services = compose()
    for name, command in procfile().items():
        assert name in services, f"Procfile process {name!r} has no compose service"
        assert normalized(str(services[name]["command"])) == normalized(command), name


def test_environment_names_agree() -> None:
    known = {v.name for v in variables()} | {"FLOWER_BASIC_AUTH"}
    used_in_procfile = set(re.findall(r"\$\{(\w+)", (ROOT / "Procfile").read_text()))
    compose_text = (ROOT / "docker-compose.yml").read_text()
    used_in_compose = set(re.findall(r"\$\{(\w+)", compose_text))
    assert used_in_procfile <= known
    assert used_in_compose <= known
    assert used_in_procfile <= used_in_compose
    app_env = yaml.safe_load(compose_text)["x-app-env"]
    assert set(app_env) <= known
    # What a worker cannot start without is passed to the containers.
    for required in ("REDIS_URL", "TARGETSMS_LOGIN", "TARGETSMS_PASSWORD", "TARGETSMS_SENDER",
                     "OTP_SERVICE_NAME", "OTP_SECRET_KEY"):  # fmt: skip
        assert required in app_env


def test_worker_is_scalable_and_flower_requires_auth() -> None:
    worker = compose()["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N works
    assert "FLOWER_BASIC_AUTH:?" in procfile()["flower"]
    assert "FLOWER_BASIC_AUTH:?" in str(compose()["flower"]["command"])
    assert compose()["gateway"]["profiles"] == ["dev"]


def test_the_env_example_is_valid_settings() -> None:
    from worker.settings import Settings

    env = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert Settings.from_env(env).gateway.sender == "target"
