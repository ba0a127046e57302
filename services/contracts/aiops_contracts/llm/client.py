"""LLMClient: structured answers from any OpenAI-compatible chat API, within the platform's limits.

- No LLM_BASE_URL: `enabled` is False and every call raises LLMUnavailable; callers answer by rules instead.
- The `openai` client retries transport errors and 429/5xx with back-off (LLM_MAX_RETRIES, LLM_TIMEOUT_S).
- Answers are JSON validated against a Pydantic model; a malformed one is asked again once with the error,
  then LLMMalformed.
- A circuit breaker opens after 5 failed calls in a row for 60 s (LLMUnavailable meanwhile).
- A budget of LLM_TOKENS_PER_HOUR shared by every replica (Redis); spent: LLMUnavailable until the next hour.
- A cache per purpose and caller key (template/prototype): a storm of similar incidents costs one call.
- Tokens, cost and outcomes per purpose in Prometheus metrics.
"""

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore2
import httpx2
import openai
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from aiops_contracts.llm.breaker import CircuitBreaker
from aiops_contracts.outbound import OutboundPolicy, UnsafeUrl, VettedTransport
from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import LLM_CACHE_KEY, LLM_TOKENS_KEY

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

LLM_CALLS = Counter("aiops_llm_calls_total", "LLM calls by purpose and outcome", ["purpose", "outcome"])
LLM_TOKENS = Counter("aiops_llm_tokens_total", "LLM tokens by purpose and kind (prompt, completion)",
                     ["purpose", "kind"])
LLM_COST = Counter("aiops_llm_cost_total", "LLM cost (LLM_COST_PER_1K_* units) by purpose", ["purpose"])


# What a failed call raises: the provider's errors, and the transport's refusal of an address (a redirect to, or
# a name rebinding to, a metadata address: aiops_contracts/outbound.py).
PROVIDER_ERRORS = (openai.APIError, UnsafeUrl)


class LLMUnavailable(Exception):
    """No LLM configured, circuit open, hourly budget spent, or the provider did not answer: try later."""


class LLMMalformed(Exception):
    """The provider answered twice with something the schema refuses."""


@dataclass(frozen=True)
class LLMRequest:
    purpose: str  # metric label and cache namespace: "enrichment", "chat"
    messages: list[dict[str, Any]]
    cache_key: str | None = None  # e.g. the incident's prototype/template ids; None: not cached


class LLMClient:
    def __init__(self, settings: CommonSettings, redis: Redis, breaker: CircuitBreaker | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.breaker = breaker or CircuitBreaker()
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url, api_key=settings.llm_api_key or "none",
            timeout=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
            # Connects only to addresses vetted as they are resolved (aiops_contracts/outbound.py: no rebinding).
            http_client=openai.DefaultAsyncHttpxClient(transport=VettedTransport(OutboundPolicy(), httpx2, httpcore2)),
        ) if settings.llm_base_url else None

    @property
    def enabled(self) -> bool:
        return self._client is not None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def structured(self, request: LLMRequest, schema: type[T]) -> T:
        if self._client is None:
            raise LLMUnavailable("no LLM configured")
        cached = await self._cached(request)
        if cached is not None:
            LLM_CALLS.labels(request.purpose, "cached").inc()
            return schema.model_validate_json(cached)
        messages = list(request.messages)
        for attempt in (1, 2):
            content = await self._call(request.purpose, messages, schema)
            try:
                answer = schema.model_validate_json(content)
            except ValidationError as exc:
                LLM_CALLS.labels(request.purpose, "malformed").inc()
                log.warning("llm answer malformed", extra={"purpose": request.purpose, "attempt": attempt})
                messages = [*messages, {"role": "assistant", "content": content},
                            {"role": "user", "content": f"That JSON does not match the schema: {_brief(exc)}. "
                                                        "Answer again with JSON only."}]
                continue
            await self._store(request, answer)
            return answer
        raise LLMMalformed(f"{request.purpose}: two malformed answers")

    async def complete(self, request: LLMRequest, tools: list[dict[str, Any]]) -> Any:
        """One completion that may call `tools` (OpenAI function tools): the assistant's message, whose
        `tool_calls` the caller runs and answers with `tool` messages before asking again."""
        client = await self._guard(request.purpose)
        try:
            completion = await client.chat.completions.create(
                model=self.settings.llm_model, messages=request.messages, tools=tools,  # type: ignore[arg-type]
                max_tokens=self.settings.llm_max_tokens, temperature=0)
        except PROVIDER_ERRORS as exc:
            raise self._provider_error(request.purpose, exc) from exc
        self.breaker.succeeded()
        LLM_CALLS.labels(request.purpose, "ok").inc()
        await self._account(request.purpose, completion.usage)
        if not completion.choices:
            raise LLMUnavailable("provider answered no choice")
        return completion.choices[0].message

    async def stream_text(self, purpose: str, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        """Plain prose, streamed as it is written (no schema, no cache)."""
        client = await self._guard(purpose)
        try:
            stream = await client.chat.completions.create(  # type: ignore[call-overload]
                model=self.settings.llm_model, messages=messages,
                max_tokens=self.settings.llm_max_tokens, temperature=0, stream=True,
                stream_options={"include_usage": True})
            self.breaker.succeeded()
            LLM_CALLS.labels(purpose, "ok").inc()
            async for chunk in stream:
                await self._account(purpose, chunk.usage)
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except PROVIDER_ERRORS as exc:
            raise self._provider_error(purpose, exc) from exc

    def _provider_error(self, purpose: str, exc: Exception) -> LLMUnavailable:
        self.breaker.failed()
        LLM_CALLS.labels(purpose, "error").inc()
        return LLMUnavailable(f"provider error: {type(exc).__name__}")

    async def _guard(self, purpose: str) -> openai.AsyncOpenAI:
        """The client, if a call may go out now: configured, circuit closed, budget left."""
        if self._client is None:
            raise LLMUnavailable("no LLM configured")
        if not self.breaker.allows():
            LLM_CALLS.labels(purpose, "circuit_open").inc()
            raise LLMUnavailable("circuit open after repeated failures")
        await self._check_budget(purpose)
        return self._client

    async def _call(self, purpose: str, messages: list[dict[str, Any]], schema: type[BaseModel]) -> str:
        client = await self._guard(purpose)
        try:
            completion = await client.chat.completions.create(  # type: ignore[call-overload]
                model=self.settings.llm_model, messages=messages,
                max_tokens=self.settings.llm_max_tokens, temperature=0,
                response_format={"type": "json_schema", "json_schema": {
                    "name": schema.__name__, "schema": schema.model_json_schema()}},
            )
        except PROVIDER_ERRORS as exc:
            raise self._provider_error(purpose, exc) from exc
        self.breaker.succeeded()
        LLM_CALLS.labels(purpose, "ok").inc()
        await self._account(purpose, completion.usage)
        return (completion.choices[0].message.content or "") if completion.choices else ""

    async def _check_budget(self, purpose: str) -> None:
        limit = self.settings.llm_tokens_per_hour
        if limit and int(await self.redis.get(self._hour_key()) or 0) >= limit:
            LLM_CALLS.labels(purpose, "budget_spent").inc()
            raise LLMUnavailable("hourly token budget spent")

    async def _account(self, purpose: str, usage: Any) -> None:
        if usage is None:
            return
        prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
        LLM_TOKENS.labels(purpose, "prompt").inc(prompt)
        LLM_TOKENS.labels(purpose, "completion").inc(completion)
        LLM_COST.labels(purpose).inc(prompt / 1000 * self.settings.llm_cost_per_1k_prompt
                                     + completion / 1000 * self.settings.llm_cost_per_1k_completion)
        key = self._hour_key()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, prompt + completion)
            pipe.expire(key, 7_200)
            await pipe.execute()

    def _hour_key(self) -> str:
        return self.settings.redis_key(LLM_TOKENS_KEY, str(int(time.time() // 3600)))

    def _cache_key(self, request: LLMRequest) -> str | None:
        if request.cache_key is None or not self.settings.llm_cache_ttl_s:
            return None
        digest = hashlib.sha256(f"{self.settings.llm_model}\0{request.cache_key}".encode()).hexdigest()
        return self.settings.redis_key(LLM_CACHE_KEY, request.purpose, digest)

    async def _cached(self, request: LLMRequest) -> bytes | str | None:
        key = self._cache_key(request)
        return await self.redis.get(key) if key else None

    async def _store(self, request: LLMRequest, answer: BaseModel) -> None:
        key = self._cache_key(request)
        if key:
            await self.redis.set(key, answer.model_dump_json(), ex=self.settings.llm_cache_ttl_s)


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:5])
