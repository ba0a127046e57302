"""Prometheus metrics both services record (each process exposes its own registry)."""

from prometheus_client import Counter

# Per stream and source: on the *:ingested streams this is the ingest rate of each source.
EVENTS_PUBLISHED = Counter("aiops_events_published_total", "Envelopes appended to a stream", ["stream", "source"])
# Per field (labels, annotations): entries of events past LABELS_MAX_COUNT, dropped (events.py)
LABELS_DROPPED = Counter("aiops_event_labels_dropped_total", "Labels or annotations of events dropped past their "
                         "count bound", ["field"])
