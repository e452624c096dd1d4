"""Readers of the deploy files (docker-compose.yml, the Procfile, the env examples), shared by
the unit tests that read them and the e2e test that runs ``compose config`` on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from worker.settings import variables

__all__ = [
    "APP_SERVICES",
    "COMPOSE_ENV",
    "ROOT",
    "SETTINGS",
    "compose",
    "compose_file",
    "env_file",
    "procfile",
]

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_ENV = "compose.env"
# Services that run our image and need the settings.
APP_SERVICES = ("worker", "flower", "metrics", "gateway")
SETTINGS = {v.name for v in variables()} | {"FLOWER_BASIC_AUTH"}


def procfile() -> dict[str, str]:
    out = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            out[name.strip()] = command.strip()
    return out


def compose_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def compose() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose_file()["services"]
    return services


def env_file(name: str) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in (ROOT / name).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
