"""scripts/bench/chat_eval.py in no-LLM mode: at least 80 % of the committed questions are answered with the
expected citations (and only existing ids), well above the plain baseline, with p95 under 300 ms."""

import importlib.util
from pathlib import Path

from aiops_contracts.settings import CommonSettings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "chat_eval.py"


async def test_no_llm_chat_answers_pass_80_percent_of_the_questions(common_settings: CommonSettings) -> None:
    spec = importlib.util.spec_from_file_location("chat_eval", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = await bench.run(common_settings.model_copy(update={"llm_base_url": ""}))
    baseline = sum(s[1] for s in result["scores"].values()) / sum(s[2] for s in result["scores"].values())
    assert result["mode"] == "rules"
    assert bench.pass_rate(result) >= 0.8, bench.report(result)
    assert bench.pass_rate(result) > baseline + 0.4
    assert result["p95_ms"] < 300
