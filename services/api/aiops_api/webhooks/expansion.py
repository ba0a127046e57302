"""The expansion limits: what one webhook request may put on the streams, measured on its envelopes as
serialised for Redis.

A receiver turns one request into many events (an alert, or a batch of log lines, each), and every event
carries fixed fields (id, time, source, the payload's empty fields), so a small body could become far more
in Redis. A request's events may take WEBHOOK_EXPANSION_FACTOR x its decompressed body (and query, whose
labels are stored) plus WEBHOOK_EVENT_OVERHEAD_BYTES per event, and never more than
WEBHOOK_EXPANSION_MAX_BYTES. Past either limit the request gets 413 naming it, and nothing is published.
Receivers pass a lazy iterable: the absolute limit is checked as the events are built, so the API never
holds more than it either.
"""

from collections.abc import Iterable

from aiops_api.errors import PayloadTooLarge
from aiops_api.settings import ApiSettings
from aiops_contracts.bus import Bus, Encoded, encode
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import StreamSpec

_ADVICE = "send fewer, fuller items per request"


def within_expansion_limits(envelopes: Iterable[Envelope], request_bytes: int,
                            settings: ApiSettings) -> list[Encoded]:
    """The envelopes, encoded for the stream, when their serialised total stays within both limits of the request;
    else 413."""
    kept: list[Encoded] = []
    total = 0
    for encoded in encode(envelopes):
        total += sum(map(len, encoded.entry.values()))  # the envelope's JSON and its raw payload members
        if total > settings.webhook_expansion_max_bytes:
            raise PayloadTooLarge(f"request: its events would take more than WEBHOOK_EXPANSION_MAX_BYTES="
                                  f"{settings.webhook_expansion_max_bytes} bytes on the stream; {_ADVICE}")
        kept.append(encoded)
    check_expansion(f"its {len(kept)} events would take {total} bytes", total, len(kept), request_bytes, settings)
    return kept


def check_expansion(what: str, total: int, events: int, request_bytes: int, settings: ApiSettings) -> None:
    """413 when `events` taking `total` bytes on the stream pass the request's expansion limit: the factor's, or
    the absolute one when lower. `what` says what would take them, for the message."""
    factor, per_event = settings.webhook_expansion_factor, settings.webhook_event_overhead_bytes
    limit = min(int(factor * request_bytes) + per_event * events, settings.webhook_expansion_max_bytes)
    if total > limit:
        raise PayloadTooLarge(
            f"request: {what} on the stream, more than the expansion limit of {limit} (WEBHOOK_EXPANSION_FACTOR="
            f"{factor:g} x the {request_bytes}-byte request plus WEBHOOK_EVENT_OVERHEAD_BYTES={per_event} per event, "
            f"at most WEBHOOK_EXPANSION_MAX_BYTES={settings.webhook_expansion_max_bytes}); {_ADVICE}")


async def publish_request(bus: Bus, stream: StreamSpec, envelopes: Iterable[Envelope], request_bytes: int,
                          settings: ApiSettings) -> list[Envelope]:
    """Publish a request's envelopes in one transaction once they are known to fit its expansion limits."""
    published = within_expansion_limits(envelopes, request_bytes, settings)
    await bus.publish_encoded(stream, published)
    return [encoded.envelope for encoded in published]
