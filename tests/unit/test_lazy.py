"""Package names that load on first use: every one still there, and the heavy stacks left out
of what a producer or the ``targetsms`` command imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

LAZY_PACKAGES = ("worker.providers.targetsms", "worker.dev.sandbox")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_resolves_and_is_kept(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert vars(module)[name] is value, name  # the hook runs once per name


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_an_unknown_name_is_an_attribute_error(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'Typo'"):
        module.Typo  # noqa: B018


def test_the_api_and_the_command_import_no_http_xml_or_celery_stack() -> None:
    """A web app's ``import worker`` and every ``targetsms`` command (it builds all subcommands)
    start without requests, lxml, tenacity or Celery: each is imported where it is used."""
    probe = (
        "import sys, worker, worker.ops.cli.parser as p; p.build_parser();"
        "print(sorted(m for m in ('requests', 'lxml', 'tenacity', 'celery') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
