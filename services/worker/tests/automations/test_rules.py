"""automations.yml: the bundled examples load; a bad file is refused with its line; matching and guards."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiops_contracts.automations import Guards, MaintenanceWindow, RuleSpec, Trigger, TriggerKind
from aiops_worker.automations.guards import RecentRuns, decide
from aiops_worker.automations.matching import TriggerEvent, matches
from aiops_worker.automations.rules import DEFAULT_PLAYBOOKS_DIR, DEFAULT_RULES_PATH, RulesError, load_rules

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_bundled_rules_load_with_their_playbooks():
    rules = load_rules(DEFAULT_RULES_PATH)
    assert {r.name for r in rules} == {"disk-predicted-full", "memory-anomaly-high", "cpu-predicted-95"}
    assert all((DEFAULT_PLAYBOOKS_DIR / r.action.playbook).exists() for r in rules)


@pytest.mark.parametrize(("body", "line", "words"), [
    ("rules:\n  - name: a\n    trigger: {events: [anomaly]}\n    action:\n      kind: ansible\n      playbook: ../x.yml\n",
     6, "playbook"),
    ("rules:\n  - name: a\n    trigger:\n      events: [sunrise]\n    action: {playbook: x.yml}\n", 4, "trigger.events"),
    ("rules:\n  - name: a\n    trigger: {events: [anomaly]}\n    action: {playbook: x.yml}\n    gards: {}\n", 5, "gards"),
    ("rules:\n  - name: a\n    trigger: {events: [anomaly]}\n    action: {playbook: x.yml}\n"
     "  - name: a\n    trigger: {events: [anomaly]}\n    action: {playbook: x.yml}\n", 5, "duplicate"),
])
def test_invalid_rules_file_names_the_line(tmp_path: Path, body: str, line: int, words: str):
    path = tmp_path / "automations.yml"
    path.write_text(body)
    with pytest.raises(RulesError) as error:
        load_rules(path)
    assert f"automations.yml:{line}:" in str(error.value) and words in str(error.value)


def event(**overrides) -> TriggerEvent:
    facts = dict(key="e1", kind=TriggerKind.prediction, severity="high", title="disk / full in 40 h", host="web-1",
                 labels={"measurement": "disk", "field": "used_percent"},
                 details={"exhausts_at": (NOW + timedelta(hours=40)).isoformat(), "last_value": 91.0}, at=NOW)
    return TriggerEvent(**{**facts, **overrides})


@pytest.mark.parametrize(("trigger", "expected"), [
    ({"events": ["prediction"], "measurement": "disk", "exhausts_within_h": 72}, True),
    ({"events": ["prediction"], "exhausts_within_h": 24}, False),
    ({"events": ["anomaly"]}, False),
    ({"events": ["prediction"], "hosts": ["web-*"], "severity": ["high"]}, True),
    ({"events": ["prediction"], "hosts": ["db-*"]}, False),
    ({"events": ["prediction"], "value_above": 90}, True),
    ({"events": ["prediction"], "value_above": 95}, False),
    ({"events": ["prediction"], "labels": {"field": "inodes"}}, False),
])
def test_trigger_matching(trigger: dict, expected: bool):
    assert matches(Trigger.model_validate(trigger), event()) is expected


def rule(**guards) -> RuleSpec:
    return RuleSpec(name="r", trigger=Trigger(events=[TriggerKind.prediction]), action={"playbook": "x.yml"},
                    guards=Guards(**guards))


IDLE = RecentRuns(last_at=None, running_rule=0, running_total=0)


def test_guards_decide_in_order():
    window = MaintenanceWindow(start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1), hosts=["web-*"])
    assert decide(rule(maintenance=[window]), event(), NOW, IDLE, 4).reason.startswith("maintenance window")
    recent = RecentRuns(last_at=NOW - timedelta(minutes=5), running_rule=0, running_total=0)
    assert decide(rule(cooldown_s=600), event(), NOW, recent, 4).reason.startswith("cooldown")
    assert decide(rule(cooldown_s=60), event(), NOW, recent, 4).status == "running"
    assert decide(rule(destructive=True), event(), NOW, IDLE, 4).status == "awaiting_approval"
    assert decide(rule(), event(severity="critical"), NOW, IDLE, 4).status == "awaiting_approval"
    busy = RecentRuns(last_at=None, running_rule=1, running_total=1)
    assert decide(rule(max_concurrent=1), event(), NOW, busy, 4).reason.startswith("max concurrent runs of the rule")
    assert decide(rule(max_concurrent=2), event(), NOW, busy, 1).reason.startswith("max concurrent runs (1)")
