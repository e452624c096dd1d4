"""deploy/prometheus/alerts.yml: valid for Prometheus (promtool), each alert fires on the series it
is meant for (promtool's rule unit tests in alerts_test.yml), and it names only metrics the
exporter serves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from helpers import metrics_named, require_tool

from worker.ops.metrics import metric_names

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"

EXPECTED_ALERTS = {
    "TargetSMSBalanceLow",
    "TargetSMSConversionCollapse",
    "TargetSMSFailureRateHigh",
    "TargetSMSQueueBacklog",
    "TargetSMSNoWorkerConsuming",
    "TargetSMSDeliveryRateDrop",
    "TargetSMSQueuedUntilTopUp",
}


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


def test_every_alert_is_there_with_a_severity_and_names_only_exported_metrics() -> None:
    rules = [
        rule
        for group in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    assert {rule["alert"] for rule in rules} >= EXPECTED_ALERTS
    exported = metric_names()
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        named = metrics_named(rule["expr"])
        assert named, rule["alert"]
        assert named <= exported, (rule["alert"], named - exported)


def test_every_alert_is_exercised_by_the_rule_unit_tests() -> None:
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {rule["alert"] for rule in rules} == fired
