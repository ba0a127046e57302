"""Failure rules and automatic severity of log lines.

A line's severity is the highest of: its level (syslog PRI, `level` field), keywords in its template,
and the first failure rule that matches (rules.yml). A line is error-ish, and may open an incident,
when a rule matched or its severity is medium or above.

Every expression runs on RE2 (google-re2): matching time is linear in the text whatever the
pattern, so no line can stall the task in backtracking. A rule RE2 cannot run (backreferences,
lookaround) is refused when the rules file is loaded, with the rule's name.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2
import yaml

from aiops_contracts.events import Severity

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.yml")
RANK = {Severity.info: 0, Severity.low: 1, Severity.medium: 2, Severity.high: 3, Severity.critical: 4}
LEVELS = {
    "emerg": Severity.critical, "emergency": Severity.critical, "alert": Severity.critical,
    "crit": Severity.critical, "critical": Severity.critical, "fatal": Severity.critical, "panic": Severity.critical,
    "err": Severity.high, "error": Severity.high, "severe": Severity.high,
    "warn": Severity.low, "warning": Severity.low,
}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad rule is reported once, by RulesError, not on stderr


def linear_regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2; ``re2.error`` when it needs backtracking features."""
    return re2.compile(pattern, _RE2_OPTIONS)


class FirstMatch:
    """Which of several RE2 patterns is the first (lowest index) to match a text: all of them in one linear
    pass over the text (an RE2 set), not one search per pattern. A set whose DFA ran out of memory would answer
    "no match"; a set's DFA empties its cache when full and goes on, whatever the text's length, so the default
    budget (8 MiB; 256 KiB measured enough on the longest line accepted) is kept."""

    def __init__(self, patterns: list[str]) -> None:
        self._set: Any = None
        if patterns:
            self._set = re2.Set.SearchSet(_RE2_OPTIONS)
            for pattern in patterns:
                self._set.Add(pattern)
            self._set.Compile()

    def first(self, text: str) -> int | None:
        matches = self._set.Match(text) if self._set is not None else None
        return min(matches) if matches else None


# Words in a template that raise its severity even when the line has no (or a low) level.
KEYWORDS = (
    (Severity.critical, r"(?i)\b(kernel panic|out of memory|fatal)\b"),
    (Severity.high, r"(?i)\b(error|errors|exception|traceback|failed|failure|corrupt\w*|segfault)\b"),
    (Severity.medium, r"(?i)\b(denied|refused|timed out|timeout|unreachable|not responding)\b"),
)
_KEYWORDS = FirstMatch([pattern for _, pattern in KEYWORDS])
_CACHE_MAX = 100_000  # templates whose verdict is remembered


class RulesError(ValueError):
    """The rules file is not valid."""


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    severity: Severity
    regex: Any  # an RE2 pattern (linear_regex)
    on_template: bool  # True: matched against the template; False: against each raw message


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    category: str | None = None
    rule: str | None = None

    @property
    def error_ish(self) -> bool:
        return self.rule is not None or RANK[self.severity] >= RANK[Severity.medium]


def load_rules(path: Path = DEFAULT_RULES_PATH) -> list[Rule]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return [_rule(item) for item in raw.get("rules", [])]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise RulesError(f"{path}: {exc}") from exc


def rules_from(items: list[dict]) -> list[Rule]:
    """Rules given as data, e.g. a replay's candidate rules; RulesError names the bad one."""
    try:
        return [_rule(item) for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise RulesError(str(exc)) from exc


def _rule(item: dict) -> Rule:
    if ("template" in item) == ("pattern" in item):
        raise ValueError(f"rule {item.get('name')!r}: give exactly one of template or pattern")
    on_template = "template" in item
    source = str(item["template"] if on_template else item["pattern"])
    try:
        regex = linear_regex(source)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"rule {item.get('name')!r}: {source!r} is not a linear-time (RE2) pattern: {detail}"
                         ) from exc
    return Rule(name=str(item["name"]), category=str(item["category"]), severity=Severity(item["severity"]),
                regex=regex, on_template=on_template)


def _higher(a: Severity, b: Severity) -> Severity:
    return a if RANK[a] >= RANK[b] else b


class Classifier:
    """Verdicts per line; the template part is computed once per (template id, template text)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.template_rules = [r for r in rules if r.on_template]
        self.message_rules = [r for r in rules if not r.on_template]
        self._template_set = FirstMatch([r.regex.pattern for r in self.template_rules])
        self._message_set = FirstMatch([r.regex.pattern for r in self.message_rules])
        self._by_template: dict[tuple[str, str], Verdict] = {}

    def classify(self, *, template_id: str, template: str, message: str, level: str | None) -> Verdict:
        verdict = self._template_verdict(template_id, template)
        if verdict.rule is None and self.message_rules:
            index = self._message_set.first(message)
            if index is not None:
                rule = self.message_rules[index]
                verdict = Verdict(_higher(verdict.severity, rule.severity), rule.category, rule.name)
        level_severity = LEVELS.get(level.lower(), Severity.info) if level else Severity.info
        if RANK[level_severity] > RANK[verdict.severity]:
            return Verdict(level_severity, verdict.category, verdict.rule)
        return verdict

    def _template_verdict(self, template_id: str, template: str) -> Verdict:
        key = (template_id, template)
        verdict = self._by_template.get(key)
        if verdict is None:
            if len(self._by_template) >= _CACHE_MAX:
                self._by_template.clear()
            verdict = self._by_template[key] = self._judge_template(template)
        return verdict

    def _judge_template(self, template: str) -> Verdict:
        keyword = _KEYWORDS.first(template)
        severity = Severity.info if keyword is None else KEYWORDS[keyword][0]
        index = self._template_set.first(template)
        if index is not None:
            rule = self.template_rules[index]
            return Verdict(_higher(severity, rule.severity), rule.category, rule.name)
        return Verdict(severity)
