"""One client for OpenAI-compatible chat APIs, shared by the worker's enrichment and the API's chat."""

from aiops_contracts.llm.client import (
    LLMClient,
    LLMMalformed,
    LLMQuotaExceeded,
    LLMRequest,
    LLMUnavailable,
)
from aiops_contracts.llm.prompts import untrusted

__all__ = ["LLMClient", "LLMMalformed", "LLMQuotaExceeded", "LLMRequest", "LLMUnavailable", "untrusted"]
