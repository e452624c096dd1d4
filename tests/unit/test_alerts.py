"""deploy/prometheus/alerts.yml: every expected alert with a severity and a summary, each one
exercised by the rule unit tests in alerts_test.yml, and naming only metrics the exporter
serves. promtool runs the rules and their unit tests in tests/e2e/test_alert_rules.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers import metrics_named

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
