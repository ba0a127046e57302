"""LLMClient: structured answers from any OpenAI-compatible chat API, within the platform's limits.

- No LLM_BASE_URL: `enabled` is False and every call raises LLMUnavailable; callers answer by rules instead.
- The `openai` client retries transport errors and 429/5xx with back-off (LLM_MAX_RETRIES, LLM_TIMEOUT_S).
- Answers are JSON validated against a Pydantic model; a malformed one is asked again once with the error,
  then LLMMalformed.
- A circuit breaker opens after 5 failed calls in a row for 60 s (LLMUnavailable meanwhile).
- A budget of LLM_TOKENS_PER_HOUR shared by every replica (Redis); spent: LLMUnavailable until the next hour.
  The chat (purpose "chat", open to any viewer) may use at most LLM_CHAT_BUDGET_SHARE of it, so incident
  enrichment always has the rest; past that share chat calls are LLMUnavailable (the chat answers by rules).
  A request naming its `user` is also held to LLM_CHAT_TOKENS_PER_USER_HOUR: past it, LLMQuotaExceeded (the
  API answers 429; `check_user_quota` asks before any work).
- A cache per purpose and caller key (template/prototype): a storm of similar incidents costs one call.
- Tokens, cost and outcomes per purpose in Prometheus metrics.
"""

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
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


CHAT = "chat"  # the purpose held to LLM_CHAT_BUDGET_SHARE

# What a failed call raises: the provider's errors, and the transport's refusal of an address (a redirect to, or
# a name rebinding to, a metadata address: aiops_contracts/outbound.py).
PROVIDER_ERRORS = (openai.APIError, UnsafeUrl)


class LLMUnavailable(Exception):
    """No LLM configured, circuit open, hourly budget spent, or the provider did not answer: try later."""


class LLMQuotaExceeded(LLMUnavailable):
    """One user's hourly chat tokens are spent (LLM_CHAT_TOKENS_PER_USER_HOUR): `retry_after_s` to the next hour."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMMalformed(Exception):
    """The provider answered twice with something the schema refuses."""


@dataclass(frozen=True)
class LLMRequest:
    purpose: str  # metric label and cache namespace: "enrichment", "chat"
    messages: list[dict[str, Any]]
    cache_key: str | None = None  # e.g. the incident's prototype/template ids; None: not cached
    user: str | None = None  # who asked (a chat user's subject): held to LLM_CHAT_TOKENS_PER_USER_HOUR


class LLMClient:
    def __init__(self, settings: CommonSettings, redis: Redis, breaker: CircuitBreaker | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock  # epoch seconds: which hour's token counters a call reads and adds to
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
            content = await self._call(request.purpose, messages, schema, request.user)
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
        client = await self._guard(request.purpose, request.user)
        try:
            completion = await client.chat.completions.create(
                model=self.settings.llm_model, messages=request.messages, tools=tools,  # type: ignore[arg-type]
                max_tokens=self.settings.llm_max_tokens, temperature=0)
        except PROVIDER_ERRORS as exc:
            raise self._provider_error(request.purpose, exc) from exc
        self.breaker.succeeded()
        LLM_CALLS.labels(request.purpose, "ok").inc()
        await self._account(request.purpose, completion.usage, request.user)
        if not completion.choices:
            raise LLMUnavailable("provider answered no choice")
        return completion.choices[0].message

    async def stream_text(self, purpose: str, messages: list[dict[str, Any]],
                          user: str | None = None) -> AsyncIterator[str]:
        """Plain prose, streamed as it is written (no schema, no cache)."""
        client = await self._guard(purpose, user)
        try:
            stream = await client.chat.completions.create(  # type: ignore[call-overload]
                model=self.settings.llm_model, messages=messages,
                max_tokens=self.settings.llm_max_tokens, temperature=0, stream=True,
                stream_options={"include_usage": True})
            self.breaker.succeeded()
            LLM_CALLS.labels(purpose, "ok").inc()
            async for chunk in stream:
                await self._account(purpose, chunk.usage, user)
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except PROVIDER_ERRORS as exc:
            raise self._provider_error(purpose, exc) from exc

    def _provider_error(self, purpose: str, exc: Exception) -> LLMUnavailable:
        self.breaker.failed()
        LLM_CALLS.labels(purpose, "error").inc()
        return LLMUnavailable(f"provider error: {type(exc).__name__}")

    async def _guard(self, purpose: str, user: str | None = None) -> openai.AsyncOpenAI:
        """The client, if a call may go out now: configured, circuit closed, budget left."""
        if self._client is None:
            raise LLMUnavailable("no LLM configured")
        if not self.breaker.allows():
            LLM_CALLS.labels(purpose, "circuit_open").inc()
            raise LLMUnavailable("circuit open after repeated failures")
        await self._check_budget(purpose, user)
        return self._client

    async def _call(self, purpose: str, messages: list[dict[str, Any]], schema: type[BaseModel],
                    user: str | None = None) -> str:
        client = await self._guard(purpose, user)
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
        await self._account(purpose, completion.usage, user)
        return (completion.choices[0].message.content or "") if completion.choices else ""

    async def check_user_quota(self, user: str) -> None:
        """LLMQuotaExceeded when `user` spent LLM_CHAT_TOKENS_PER_USER_HOUR this hour (asked before a chat)."""
        quota = self.settings.llm_chat_tokens_per_user_hour
        if quota and self.enabled and int(await self.redis.get(self._hour_key("user", user)) or 0) >= quota:
            raise self._over_quota(quota)

    async def _check_budget(self, purpose: str, user: str | None = None) -> None:
        limit, quota = self.settings.llm_tokens_per_hour, self.settings.llm_chat_tokens_per_user_hour
        # The chat's cap, at least 1 token when there is a limit (0 would mean none: a share under one token).
        chat_limit = max(1, int(limit * self.settings.llm_chat_budget_share)) if purpose == CHAT and limit else 0
        keys = [self._hour_key(), self._hour_key("purpose", CHAT), self._hour_key("user", user or "")]
        spent, chat_spent, user_spent = (int(value or 0) for value in await self.redis.mget(keys))
        if limit and spent >= limit:
            LLM_CALLS.labels(purpose, "budget_spent").inc()
            raise LLMUnavailable("hourly token budget spent")
        if chat_limit and chat_spent >= chat_limit:
            LLM_CALLS.labels(purpose, "budget_spent").inc()
            raise LLMUnavailable(f"the chat's share of the hourly token budget is spent (LLM_CHAT_BUDGET_SHARE="
                                 f"{self.settings.llm_chat_budget_share:g} of LLM_TOKENS_PER_HOUR={limit}): the "
                                 "rest is kept for incident enrichment")
        if user is not None and quota and user_spent >= quota:
            LLM_CALLS.labels(purpose, "quota_spent").inc()
            raise self._over_quota(quota)

    def _over_quota(self, quota: int) -> LLMQuotaExceeded:
        # The message names the limit, not when it resets: that is retry_after_s (the API's Retry-After, which the
        # dashboard words once), so the two can never disagree.
        retry_after_s = max(1, 3600 - int(self.clock() % 3600))
        return LLMQuotaExceeded(f"your hourly chat budget is spent (LLM_CHAT_TOKENS_PER_USER_HOUR={quota} tokens)",
                                retry_after_s)

    async def _account(self, purpose: str, usage: Any, user: str | None = None) -> None:
        if usage is None:
            return
        prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
        LLM_TOKENS.labels(purpose, "prompt").inc(prompt)
        LLM_TOKENS.labels(purpose, "completion").inc(completion)
        LLM_COST.labels(purpose).inc(prompt / 1000 * self.settings.llm_cost_per_1k_prompt
                                     + completion / 1000 * self.settings.llm_cost_per_1k_completion)
        keys = [self._hour_key()]
        keys += [self._hour_key("purpose", CHAT)] if purpose == CHAT else []
        keys += [self._hour_key("user", user)] if user is not None else []
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.incrby(key, prompt + completion)
                pipe.expire(key, 7_200)
            await pipe.execute()

    def _hour_key(self, *of: str) -> str:
        """This hour's token counter: all calls, or `("purpose", "chat")`, or `("user", subject)`."""
        return self.settings.redis_key(LLM_TOKENS_KEY, str(int(self.clock() // 3600)), *of)

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
