"""The LLM client against a local OpenAI-compatible server: structured answers, one retry of a malformed
answer, the circuit breaker, the hourly budget, the cache, the metrics, and the no-LLM default."""

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from aiops_contracts.llm import LLMClient, LLMMalformed, LLMQuotaExceeded, LLMRequest, LLMUnavailable
from aiops_contracts.llm.breaker import CircuitBreaker
from aiops_contracts.settings import CommonSettings


class Verdict(BaseModel):
    cause: str
    confidence: float


# The budget tests' clock, pinned 20 minutes into an hour: the per-hour counters they fill and read stay one
# hour's, whenever the wall clock's hour turns (the Redis database is flushed per test).
PINNED = 3600 * 500_000 + 1200.0


def pinned() -> float:
    return PINNED


def settings_for(fake, **overrides) -> CommonSettings:
    return CommonSettings(llm_base_url=fake.base_url, llm_model="fake-model", llm_max_retries=0, **overrides)


def ask(cache_key: str | None = None) -> LLMRequest:
    return LLMRequest("test", [{"role": "user", "content": "why?"}], cache_key=cache_key)


# An answer that costs 14 tokens with ask()'s prompt (the fake counts words: 1 prompt, 13 completion).
FOURTEEN_TOKENS = '{"cause": "a b c d e f g h i j", "confidence": 1}'


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_no_llm_configured_is_the_default_and_calls_say_unavailable(redis: Redis) -> None:
    client = LLMClient(CommonSettings(), redis)
    assert not client.enabled
    with pytest.raises(LLMUnavailable):
        await client.structured(ask(), Verdict)


async def test_structured_answer_is_validated_and_tokens_and_cost_are_counted(fake_openai, redis: Redis) -> None:
    fake_openai.replies.append('{"cause": "disk full", "confidence": 0.9}')
    client = LLMClient(settings_for(fake_openai, llm_cost_per_1k_completion=2.0), redis)
    before = metric("aiops_llm_tokens_total", purpose="test", kind="completion")
    cost_before = metric("aiops_llm_cost_total", purpose="test")
    assert await client.structured(ask(), Verdict) == Verdict(cause="disk full", confidence=0.9)
    sent = fake_openai.requests[0]
    assert sent["model"] == "fake-model" and sent["response_format"]["json_schema"]["name"] == "Verdict"
    assert metric("aiops_llm_tokens_total", purpose="test", kind="completion") == before + 5
    assert metric("aiops_llm_cost_total", purpose="test") == pytest.approx(cost_before + 5 / 1000 * 2.0)
    await client.aclose()


async def test_malformed_answer_is_retried_once_with_the_error_then_refused(fake_openai, redis: Redis) -> None:
    client = LLMClient(settings_for(fake_openai), redis)
    fake_openai.replies += ["not json", '{"cause": "oom", "confidence": 0.5}']
    assert (await client.structured(ask(), Verdict)).cause == "oom"
    assert "does not match the schema" in fake_openai.requests[1]["messages"][-1]["content"]
    fake_openai.replies += ['{"cause": 1}', '{"confidence": "x"}']
    with pytest.raises(LLMMalformed):
        await client.structured(ask(), Verdict)
    assert len(fake_openai.requests) == 4


async def test_breaker_opens_after_five_failures_and_closes_after_a_minute(fake_openai, redis: Redis) -> None:
    now = [0.0]
    client = LLMClient(settings_for(fake_openai), redis, CircuitBreaker(5, 60.0, clock=lambda: now[0]))
    fake_openai.replies += [500] * 5
    for _ in range(5):
        with pytest.raises(LLMUnavailable, match="provider error"):
            await client.structured(ask(), Verdict)
    with pytest.raises(LLMUnavailable, match="circuit open"):
        await client.structured(ask(), Verdict)
    assert len(fake_openai.requests) == 5  # the open circuit sent nothing
    now[0] = 60.0
    fake_openai.replies.append('{"cause": "back", "confidence": 1}')
    assert (await client.structured(ask(), Verdict)).cause == "back"


async def test_hourly_budget_spent_makes_calls_unavailable(fake_openai, redis: Redis) -> None:
    client = LLMClient(settings_for(fake_openai, llm_tokens_per_hour=3), redis, clock=pinned)
    fake_openai.replies.append('{"cause": "a b c d", "confidence": 1}')
    await client.structured(ask(), Verdict)
    with pytest.raises(LLMUnavailable, match="budget"):
        await client.structured(ask(), Verdict)
    assert len(fake_openai.requests) == 1


async def test_chat_uses_at_most_its_share_of_the_budget_and_enrichment_keeps_the_rest(fake_openai,
                                                                                         redis: Redis) -> None:
    """LLM_TOKENS_PER_HOUR=40, LLM_CHAT_BUDGET_SHARE=0.25: the chat stops past 10 tokens, enrichment past 40."""
    client = LLMClient(settings_for(fake_openai, llm_tokens_per_hour=40, llm_chat_budget_share=0.25,
                                    llm_chat_tokens_per_user_hour=0), redis, clock=pinned)
    fake_openai.model = lambda body: FOURTEEN_TOKENS
    chat = LLMRequest("chat", [{"role": "user", "content": "why?"}], user="alice")
    await client.structured(chat, Verdict)
    with pytest.raises(LLMUnavailable, match="LLM_CHAT_BUDGET_SHARE") as refused:
        await client.structured(LLMRequest("chat", chat.messages, user="bob"), Verdict)
    assert not isinstance(refused.value, LLMQuotaExceeded)  # not bob's doing: the chat answers without the LLM
    for _ in range(2):  # 28 and 42 tokens of 40: enrichment is not starved by the chat
        await client.structured(LLMRequest("enrichment", chat.messages), Verdict)
    with pytest.raises(LLMUnavailable, match="hourly token budget spent"):
        await client.structured(LLMRequest("enrichment", chat.messages), Verdict)
    assert len(fake_openai.requests) == 3


async def test_a_chat_share_under_one_token_still_caps_the_chat(fake_openai, redis: Redis) -> None:
    """LLM_TOKENS_PER_HOUR=7, LLM_CHAT_BUDGET_SHARE=0.1: 0.7 tokens, rounded up to 1, not down to 0 (no cap)."""
    client = LLMClient(settings_for(fake_openai, llm_tokens_per_hour=7, llm_chat_budget_share=0.1,
                                    llm_chat_tokens_per_user_hour=0), redis, clock=pinned)
    fake_openai.model = lambda body: '{"cause":"x","confidence":1}'  # 2 tokens with the prompt
    chat = LLMRequest("chat", [{"role": "user", "content": "why?"}], user="alice")
    await client.structured(chat, Verdict)
    with pytest.raises(LLMUnavailable, match="LLM_CHAT_BUDGET_SHARE=0.1 of LLM_TOKENS_PER_HOUR=7"):
        await client.structured(chat, Verdict)
    await client.structured(LLMRequest("enrichment", chat.messages), Verdict)  # 4 of 7: enrichment still asks
    assert len(fake_openai.requests) == 2


async def test_one_chat_user_cannot_spend_more_than_the_per_user_quota(fake_openai, redis: Redis) -> None:
    client = LLMClient(settings_for(fake_openai, llm_chat_tokens_per_user_hour=20), redis, clock=pinned)
    fake_openai.model = lambda body: FOURTEEN_TOKENS
    alice = LLMRequest("chat", [{"role": "user", "content": "why?"}], user="alice")
    await client.structured(alice, Verdict)
    await client.structured(alice, Verdict)  # 14 < 20 before it: asked; 28 after
    with pytest.raises(LLMQuotaExceeded) as refused:
        await client.structured(alice, Verdict)
    # The message names the limit; when to ask again is retry_after_s alone (the API's Retry-After, which the
    # dashboard words once): the 40 minutes left of the pinned hour.
    assert str(refused.value) == "your hourly chat budget is spent (LLM_CHAT_TOKENS_PER_USER_HOUR=20 tokens)"
    assert refused.value.retry_after_s == 2400
    with pytest.raises(LLMQuotaExceeded):
        await client.check_user_quota("alice")
    await client.check_user_quota("bob")
    await client.structured(LLMRequest("chat", alice.messages, user="bob"), Verdict)
    assert len(fake_openai.requests) == 3


async def test_cache_per_key_makes_a_storm_of_similar_incidents_cost_one_call(fake_openai, redis: Redis) -> None:
    client = LLMClient(settings_for(fake_openai), redis)
    fake_openai.replies += ['{"cause": "pool exhausted", "confidence": 0.7}', '{"cause": "other", "confidence": 0}']
    answers = [await client.structured(ask(cache_key="prototype:p1"), Verdict) for _ in range(10)]
    assert {a.cause for a in answers} == {"pool exhausted"} and len(fake_openai.requests) == 1
    assert (await client.structured(ask(cache_key="prototype:p2"), Verdict)).cause == "other"


async def test_budget_and_cache_are_kept_per_bus_prefix(fake_openai, redis: Redis) -> None:
    """Another deployment (or test run) on the same Redis: its own hourly budget, and no answer cached by the other
    (cache keys name templates by their database id, which means another template there)."""
    first = LLMClient(settings_for(fake_openai, llm_tokens_per_hour=3, bus_prefix="first:"), redis, clock=pinned)
    second = LLMClient(settings_for(fake_openai, llm_tokens_per_hour=3, bus_prefix="second:"), redis, clock=pinned)
    fake_openai.replies += ['{"cause": "mine", "confidence": 1}', '{"cause": "theirs", "confidence": 1}']
    assert (await first.structured(ask(cache_key="template:42"), Verdict)).cause == "mine"  # spends the budget
    assert (await second.structured(ask(cache_key="template:42"), Verdict)).cause == "theirs"
    assert len(fake_openai.requests) == 2
    assert {k.decode().split(":")[0] for k in await redis.keys("*")} == {"first", "second"}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://169.254.169.254/latest", "http://user:pw@llm/v1",
                                 "http://metadata.google.internal/v1", "ftp://llm/v1", "http:///v1",
                                 "http://2852039166/v1", "http://0xa9fea9fe/v1", "http://169.254.43518/v1",
                                 "http://metadata.goog/v1"])
def test_base_url_must_be_an_outbound_http_url(url: str) -> None:
    with pytest.raises(ValidationError, match="llm_base_url"):
        CommonSettings(llm_base_url=url)


def test_local_model_servers_are_allowed() -> None:
    assert CommonSettings(llm_base_url="http://127.0.0.1:11434/v1/").llm_base_url == "http://127.0.0.1:11434/v1"
