"""Prometheus metrics both services record (each process exposes its own registry)."""

from prometheus_client import Counter

# Per stream and source: on the *:ingested streams this is the ingest rate of each source.
EVENTS_PUBLISHED = Counter("aiops_events_published_total", "Envelopes appended to a stream", ["stream", "source"])
