"""The intent parser's fallback when no keyword decides: the intent whose example questions are nearest in
meaning to the question. The examples are general wording, written apart from the evaluation's questions; they
are embedded once (at startup), the question with the template search's cached query embedding, so a question
that also searches templates is embedded once. Only a clear match counts (MIN_SIMILARITY, cosine): otherwise,
when the nearest examples are the general status questions, and while the model fails, the parser's default
stands."""

import asyncio
import logging

import numpy as np

from aiops_api import background
from aiops_api.logs.search import LogSearch

log = logging.getLogger(__name__)

MIN_SIMILARITY = 0.5  # above the nearest wrong intent of any tuning question (0.46; the paraphrases kept out)
DEFAULT = "default"  # general status questions: the parser's own default (host, service or open) answers them
EXAMPLES = {
    DEFAULT: ["what is wrong with server-1?", "is the payment app healthy?", "what is broken right now?",
              "which problems are still unresolved?", "give me the status of db-2", "is anything on fire?"],
    "similar": ["has this happened before?", "when did we last see this problem?", "how was this fixed last time?",
                "is this a repeat of an earlier outage?", "did we have the same failure in the past?"],
    "capacity": ["which disks will be full soon?", "are we running out of storage space?",
                 "when will the volume reach its limit?", "how much free space is left on server-1?"],
    "noise": ["how many alerts fired yesterday?", "which source sends the most alerts?",
              "is the alerting too chatty?", "how much alert traffic was there today?"],
    "anomalies": ["did any metric behave strangely?", "were there unexpected spikes or dips in the metrics?",
                  "anything out of the ordinary in the graphs?"],
    "templates": ["what do the logs say about timeouts?", "show log lines about authentication failures",
                  "which errors appear in the application output?"],
    "metrics": ["how busy is the processor of server-1?", "which machines use the most RAM?",
                "what is the current load across the fleet?"],
}


class IntentMeaning:
    def __init__(self, search: LogSearch) -> None:
        self.search = search
        self._kinds = [kind for kind, examples in EXAMPLES.items() for _ in examples]
        self._vectors: np.ndarray | None = None
        self._lock = asyncio.Lock()
        self._warming: asyncio.Task[np.ndarray] | None = None

    def warm_up(self) -> None:
        """Embed the examples in the background (after the model loads), so no question waits for them."""
        self._warming = background.start(self._examples(), "chat-meaning-warm-up")

    async def aclose(self) -> None:
        await background.stop(self._warming)

    async def nearest(self, question: str) -> str | None:
        """The intent nearest in meaning (None: no clear match, a general status question, or no model)."""
        try:
            examples = await self._examples()
            question_vector = await self.search.embed_query(question)
        except Exception as exc:  # the model failed to load or run: the question is still answered
            log.warning("chat meaning unavailable, the parser's default stands",
                        extra={"error_type": type(exc).__name__, "error": str(exc)})
            return None
        similarity = examples @ np.asarray(question_vector)
        best = int(np.argmax(similarity))
        if similarity[best] < MIN_SIMILARITY or self._kinds[best] == DEFAULT:
            return None
        return self._kinds[best]

    async def _examples(self) -> np.ndarray:
        async with self._lock:
            if self._vectors is None:
                texts = [text for examples in EXAMPLES.values() for text in examples]
                self._vectors = np.asarray(await self.search.embedder.embed_async(texts))
        return self._vectors
