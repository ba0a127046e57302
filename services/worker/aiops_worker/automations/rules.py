"""automations.yml: loaded and validated at worker start (an error names the file's line), stored as the `file`
rules of automation_rules (the API adds `api` rules beside them); the task reads the enabled rules back."""

from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.automations import RuleSpec
from aiops_contracts.db import AutomationRule
from aiops_worker.yaml_file import line_of, read_yaml

PACKAGE_DIR = Path(__file__).parent
DEFAULT_RULES_PATH = PACKAGE_DIR / "automations.yml"
DEFAULT_PLAYBOOKS_DIR = PACKAGE_DIR / "playbooks"


class RulesError(ValueError):
    """automations.yml is not valid; the message names the file, line and field."""


def load_rules(path: Path) -> list[RuleSpec]:
    root, data = read_yaml(path, RulesError)
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise RulesError(f"{path}:1: expected a mapping with a list under 'rules'")
    rules, seen = [], set()
    for index, raw in enumerate(data.get("rules", [])):
        try:
            rule = RuleSpec.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            line = line_of(root, ("rules", index, *error["loc"]))
            where = ".".join(str(p) for p in error["loc"]) or "rule"
            raise RulesError(f"{path}:{line}: rules[{index}].{where}: {error['msg']}") from exc
        if rule.name in seen:
            raise RulesError(f"{path}:{line_of(root, ('rules', index, 'name'))}: duplicate rule name {rule.name!r}")
        seen.add(rule.name)
        rules.append(rule)
    return rules


async def sync_file_rules(session: AsyncSession, rules: list[RuleSpec]) -> None:
    """The file's rules replace the previous file rules; a rule created through the API keeps its name."""
    await session.execute(delete(AutomationRule).where(AutomationRule.origin == "file",
                                                       AutomationRule.name.not_in([r.name for r in rules])))
    for rule in rules:
        row = {"name": rule.name, "origin": "file", "enabled": rule.enabled, "spec": rule.model_dump(mode="json")}
        stmt = insert(AutomationRule).values(**row)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=[AutomationRule.name], set_={"enabled": rule.enabled, "spec": stmt.excluded.spec},
            where=AutomationRule.origin == "file"))


async def enabled_rules(session: AsyncSession) -> list[RuleSpec]:
    specs = await session.scalars(select(AutomationRule.spec).where(AutomationRule.enabled.is_(True)))
    return [RuleSpec.model_validate(spec) for spec in specs]


async def install_rules(sessions: async_sessionmaker[AsyncSession], path: str) -> list[RuleSpec]:
    """At worker start: validate automations.yml (RulesError stops the start) and store its rules."""
    rules = load_rules(Path(path) if path else DEFAULT_RULES_PATH)
    async with sessions.begin() as session:
        await sync_file_rules(session, rules)
    return rules
