"""The RCA's narrative: templated from the analysis, or written by the LLM when one is configured (commit
messages and test names go to it only as quoted, inert data; it may restate the analysis, not add causes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from aiops_contracts.llm.client import LLMClient, LLMMalformed, LLMRequest, LLMUnavailable
from aiops_contracts.llm.prompts import DATA_RULE, untrusted

KIND_PHRASES = {"slow_test": "test {name} got slower or was added", "flaky_test": "test {name} became flaky",
                "failing_test": "test {name} started failing", "runner_change": "builds moved to runner {name}",
                "dependency_bump": "dependencies were bumped in commit {short}",
                "test_change": "tests changed in commit {short}", "commit": "commit {short}"}
METRIC_NAMES = {"duration_s": "build duration (s)", "queue_s": "queue time (s)", "failed": "share of failed builds",
                "step_count": "step count"}


class Narrative(BaseModel):
    narrative: str = Field(max_length=2_000)


def describe(cause: dict[str, Any]) -> str:
    return KIND_PHRASES.get(cause["kind"], "{name}").format(name=cause["name"], short=cause["name"][:10])


def templated(pipeline: str, rca: dict[str, Any]) -> str:
    causes = rca["causes"]
    when = datetime.fromtimestamp(rca["onset_ts"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    metric = METRIC_NAMES.get(rca["metric"], rca["metric"])
    text = f"{pipeline}: {metric} went from {rca['before']:.3g} to {rca['after']:.3g} from about {when}."
    if causes:
        top = causes[0]
        text += f" Most likely cause: {describe(top)} (explains {top['explained']:.0%} of the change)."
        others = [describe(c) for c in causes[1:3]]
        if others:
            text += " Also around the onset: " + "; ".join(others) + "."
    check = next((c for c in rca["checks"] if c.get("granger_p") is not None), None)
    if check:
        text += (f" Granger test from {check['from']} to the series: p = {check['granger_p']:.2g} "
                 f"(lag {check['lags']} builds; predictive precedence, not proof of cause).")
    return text


async def written(llm: LLMClient, pipeline: str, rca: dict[str, Any]) -> tuple[str, str]:
    """(narrative, "llm" or "template"): the LLM's when configured and answering, else the template's."""
    fallback = templated(pipeline, rca)
    if not llm.enabled:
        return fallback, "template"
    messages = [
        {"role": "system", "content": "You explain CI/CD pipeline regressions to engineers in three sentences, "
                                      "using only the analysis given; name the top cause first. Answer JSON "
                                      '{"narrative": "..."}. ' + DATA_RULE},
        {"role": "user", "content": untrusted(f"pipeline {pipeline}", fallback)},
    ]
    try:
        answer = await llm.structured(LLMRequest("pipelines-rca", messages, cache_key=fallback), Narrative)
    except (LLMUnavailable, LLMMalformed):
        return fallback, "template"
    return answer.narrative, "llm"
