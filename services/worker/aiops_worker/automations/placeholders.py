"""A rule's string extra vars may name facts of the triggering event as "{name}" (`cleanup_dir: /var/log/{service}`),
filled in before the action runs. Those facts come from alerts and incidents, that is from whoever can post an
alert, so a fact is put in only when it matches a strict pattern: "/var/log/{service}" never becomes
"/var/log/../../etc", and no fact passes for an option ("-rf"). Free text (the title) is never put in. A
placeholder naming a fact that is missing, free text or not well formed fails the run with the reason (rather
than running with the placeholder left in or the text put in). A "{name}" that names no fact stays as it is, and
so does anything in "{{...}}" (Jinja) or "${...}" (a shell variable). The facts put in (FILLABLE) are listed in
aiops_contracts.automations: the API refuses a rule naming another fact (UNFILLED) when an admin creates or
replaces it; rules in automations.yml, or stored before that check, may still name one.
The whole event still reaches the action as data (`aiops_event`; a playbook gets its strings as text, ansible.py)."""

import re
from typing import Any

from aiops_contracts.automations import FILLABLE, PLACEHOLDER


class UnsafeFact(ValueError):
    """A placeholder the event's fact may not fill; the message names the extra var, the placeholder and why."""


def fill_extra_vars(extra_vars: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The extra vars with their placeholders filled; raises UnsafeFact on the first that may not be."""
    return {key: _fill(key, value, facts) if isinstance(value, str) else value for key, value in extra_vars.items()}


def _fill(key: str, value: str, facts: dict[str, Any]) -> str:
    def fact(placeholder: re.Match[str]) -> str:
        name = placeholder.group(1)
        if name not in facts:
            return placeholder.group(0)
        if name not in FILLABLE:
            why = f"the event's {name} is not among the facts put in ({', '.join(FILLABLE)}); the action gets it " \
                  "as data in aiops_event"
        elif (found := facts[name]) is None:
            why = f"the event has no {name}"
        elif not FILLABLE[name][0].fullmatch(str(found)):
            why = f"the event's {name} {str(found)[:100]!r} is not {FILLABLE[name][1]}"
        else:
            return str(found)
        raise UnsafeFact(f"extra var {key!r}: {{{name}}} not substituted: {why}")

    return PLACEHOLDER.sub(fact, value)
