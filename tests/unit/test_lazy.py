"""Package names that load on first use: every one still there (what a fresh interpreter
imports without them: ``tests/e2e/test_startup.py``)."""

from __future__ import annotations

import importlib

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
