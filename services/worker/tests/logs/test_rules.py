"""Failure rules and automatic severity."""

import random
import string
from pathlib import Path

import pytest

from aiops_contracts.events import LOG_LINE_MAX_CHARS, Severity
from aiops_worker.logs.rules import Classifier, RulesError, load_rules


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules())


@pytest.mark.parametrize(("template", "level", "expected"), [
    ("Out of memory: Killed process <*> (<*>)", None, (Severity.critical, "memory", "oom-killer")),
    ("EXT4-fs error (device <*>): <*>", "info", (Severity.high, "disk", "disk-error")),
    ("Accepted publickey for <*> from <*> port <*> ssh2", None, (Severity.info, None, None)),
    ("Accepted publickey for <*> from <*> port <*> ssh2", "crit", (Severity.critical, None, None)),
    ("connection to <*> refused", None, (Severity.medium, None, None)),
    ("config reloaded", "warning", (Severity.low, None, None)),
])
def test_severity_from_rules_keywords_and_level(classifier: Classifier, template, level, expected) -> None:
    verdict = classifier.classify(template_id="t", template=template, message=template, level=level)
    assert (verdict.severity, verdict.category, verdict.rule) == expected


def test_error_ish_needs_a_rule_or_medium_severity(classifier: Classifier) -> None:
    quiet = classifier.classify(template_id="a", template="config reloaded", message="config reloaded", level="warning")
    assert not quiet.error_ish
    access = '10.0.0.1 - - [02/Mar/2026:10:00:00 +0000] "GET / HTTP/1.1" 503 12'
    verdict = classifier.classify(template_id="b", template="<*>", message=access, level=None)
    assert verdict.error_ish and verdict.rule == "http-5xx"


def test_bad_rules_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n  - name: x\n    template: '('\n    category: c\n    severity: high\n")
    with pytest.raises(RulesError, match="rules.yml"):
        load_rules(path)
    path.write_text("rules:\n  - name: x\n    category: c\n    severity: high\n")
    with pytest.raises(RulesError, match="exactly one"):
        load_rules(path)


def test_rule_needing_backtracking_is_refused_at_load_with_the_rule_name(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n  - name: repeated-word\n    pattern: '(\\w+) \\1'\n    category: c\n    severity: high\n")
    with pytest.raises(RulesError, match="rule 'repeated-word'.*not a linear-time"):
        load_rules(path)


def test_a_63k_line_full_of_rule_prefixes_is_judged_in_one_pass(classifier: Classifier) -> None:
    """`XFS.*(corruption|error)` over 16,000 'XFS ' and no error: a backtracking engine rescans the rest of the
    line from every XFS (52 s measured); RE2 is linear. Same for the message rules."""
    line = "XFS " * 16_000
    verdict = classifier.classify(template_id="big", template=line, message=line, level=None)
    assert verdict.rule is None
    assert classifier.classify(template_id="big2", template=line + "Error", message=line, level=None).rule == "disk-error"


def test_a_line_of_the_longest_accepted_length_still_matches_its_rule(classifier: Classifier) -> None:
    """An RE2 set that ran out of memory would answer "no match" rather than fail: a line of the longest length
    accepted, of varied words (a new DFA state at almost every byte), still finds its rule at the very end."""
    rng = random.Random(7)
    words = " ".join("".join(rng.choices(string.printable[:94], k=rng.randint(1, 12))) for _ in range(12_000))
    tail = ' EXT4-fs error "GET / HTTP/1.1" 503 12'
    line = words[: LOG_LINE_MAX_CHARS - len(tail)] + tail
    assert len(line) == LOG_LINE_MAX_CHARS
    assert classifier.classify(template_id="long", template=line, message=line, level=None).rule == "disk-error"
    assert classifier.classify(template_id="long2", template=words, message=line, level=None).rule == "http-5xx"
