"""The Grafana dashboard queries only metrics the services really export."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import aiops_api.main  # noqa: F401  (registers the API's metrics)
import aiops_worker.main  # noqa: F401  (registers the worker's metrics)

DASHBOARD = Path(__file__).resolve().parents[2] / "infrastructure" / "grafana" / "aiops-dashboard.json"


def exported_names() -> set[str]:
    return {sample.name for family in REGISTRY.collect() for sample in family.samples} | {
        family.name for family in REGISTRY.collect()}


def test_every_dashboard_query_uses_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\baiops_[a-z_]+", expr)}
    exported = exported_names()
    # Histograms and labelled counters have no sample before their first observation: match by family too.
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", name) for name in exported}
    missing = {n for n in used if n not in exported and re.sub(r"_(total|bucket|count|sum)$", "", n) not in families}
    assert exprs and missing == set()
