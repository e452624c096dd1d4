"""deploy/prometheus/alerts.yml through Prometheus's own promtool: valid rules, and each alert
fires on the series it is meant for (the rule unit tests in alerts_test.yml). What the files
say without promtool is checked in tests/unit/test_alerts.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import require_tool

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "prometheus")
    return subprocess.run(
        [tool, *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules_accepts_the_alerts() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
