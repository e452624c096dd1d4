"""deploy/grafana/targetsms.json: a dashboard Grafana can import (the fields its dashboard schema
requires, panels laid on its 24-column grid without overlap, every query on the templated
Prometheus datasource) whose every query names metrics the exporter serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import metrics_named

from worker.ops.metrics import metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "targetsms.json"
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "text"}
# What the issue asks the dashboard to show, by the metric behind it.
REQUIRED = {
    "targetsms_sms_sent_total",
    "targetsms_sms_failed_total",
    "targetsms_requests_refused_total",
    "targetsms_conversion_ratio",
    "targetsms_delivery_status_total",
    "targetsms_gateway_request_seconds_bucket",
    "targetsms_queue_depth",
    "targetsms_balance",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows nest theirs
    return out


def test_dashboard_has_the_fields_grafana_requires(dashboard: dict[str, Any]) -> None:
    assert isinstance(dashboard["title"], str) and dashboard["title"]
    assert isinstance(dashboard["uid"], str) and 0 < len(dashboard["uid"]) <= 40
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert isinstance(dashboard["panels"], list) and dashboard["panels"]
    assert set(dashboard["time"]) == {"from", "to"}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_panels_have_unique_ids_and_sit_on_the_grid_without_overlap(
    dashboard: dict[str, Any],
) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard):
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel["title"]
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in grid.values())
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_uses_the_prometheus_variable_and_names_exported_metrics(
    dashboard: dict[str, Any],
) -> None:
    exported = metric_names()
    shown: set[str] = set()
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        targets = panel["targets"]
        assert targets, panel["title"]
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]
            named = metrics_named(target["expr"])
            assert named, (panel["title"], target["expr"])
            assert named <= exported, (panel["title"], named - exported)
            shown |= named
    assert shown >= REQUIRED, REQUIRED - shown


def test_latency_panel_shows_percentiles_from_the_histogram(dashboard: dict[str, Any]) -> None:
    latency = next(p for p in panels(dashboard) if "latency" in p["title"].lower())
    exprs = [t["expr"] for t in latency["targets"]]
    assert all(e.startswith("histogram_quantile(") and "by (le, endpoint)" in e for e in exprs)
    assert latency["fieldConfig"]["defaults"]["unit"] == "s"
