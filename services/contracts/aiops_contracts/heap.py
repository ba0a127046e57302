"""The garbage collector of a serving process (the API, the worker), tuned with the read benchmark
(scripts/bench/load_read_api.py, 100 users at 100,000 alerts).

CPython's full collection walks every tracked object, and runs whenever the objects promoted since the last one
reach a quarter of them. With the imports, torch and the embedding model (some 650,000 objects) that was 0.4 s of
CPU with the event loop held, twice in each 30 s run: the read API's 1 % tail. So what is alive once a service has
started leaves the collector's sight (`gc.freeze`: reference counting still frees it), and so does the model when
it loads (embeddings.py). Young collections run after 10,000 new objects instead of 700: most of a request's or a
batch's objects are gone by then, so fewer are walked and promoted (the API's collector CPU per request 0.30 ->
0.05 ms, and no full collection in a 30 s run).
"""

import gc

YOUNG_THRESHOLD = 10_000


def freeze_heap() -> None:
    """Called once a service has started (never by tests, which would keep whatever they had alive)."""
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
    gc.freeze()
