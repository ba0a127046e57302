"""Stores received alerts in PostgreSQL (one row per source + fingerprint) and announces them; the services
and hosts they name, with their environment and release, teach the topology (incidents/learning.py).

Idempotent: each event id is recorded in `processed_events` in the same transaction as the upsert,
so a re-delivered entry changes nothing; its `alert.stored` announcement is sent again, with the same
event id, so downstream consumers dedupe it too.
"""

import math
from datetime import UTC, datetime

from sqlalchemy import Row, String, case, cast, func, select, tuple_
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Alert
from aiops_contracts.db.processed import ALERT_STORE_HANDLER
from aiops_contracts.envelope import Envelope, new_event_id
from aiops_contracts.events import ALERT_STORED, AlertPayload, AlertStatus, AlertStoredPayload
from aiops_contracts.streams import ALERTS_INGESTED, ALERTS_STORED, FORMER_SHARED_GROUP
from aiops_contracts.topology import host_name
from aiops_worker.incidents import store as incidents
from aiops_worker.incidents.aggregator import Action, decide
from aiops_worker.incidents.learning import TopologyLearner, edge, merged, topology_labels
from aiops_worker.incidents.signals import alert_key
from aiops_worker.incidents.task import AlertIncidentTask
from aiops_worker.runtime.bulk import rows_param, rows_select
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.idempotency import claim_new_events

# What the announcement needs of a stored alert; the ids as the text it carries (a UUID object each, read and
# printed again, cost more than the rest of the row).
ANNOUNCED = (cast(Alert.id, String).label("id"), Alert.source, Alert.fingerprint, Alert.title, Alert.severity,
             Alert.status, Alert.host, Alert.service, Alert.count, cast(Alert.incident_id, String).label("incident_id"))


class AlertStoreTask(StreamConsumer[AlertPayload]):
    scales_out = True  # stateless and idempotent: any number of replicas may share the group
    name = ALERT_STORE_HANDLER
    stream = ALERTS_INGESTED
    former_group = FORMER_SHARED_GROUP
    payload_model = AlertPayload
    # Each batch costs ~5 ms of CPU besides its alerts (its transaction, statements, script, PUBLISH, ack): read
    # as they come, a few thousand alerts a second arrived in batches of tens, 0.2-0.3 ms an alert instead of 0.13.
    linger_s = 0.1

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.learner = TopologyLearner(ctx)
        self.policy = AlertIncidentTask.policy_of(ctx.settings)  # the rules _link_joining guesses by

    async def handle(self, batch: list[Delivery[AlertPayload]]) -> None:
        async with self.ctx.sessions.begin() as session:
            fresh = await claim_new_events(session, self.name, [d.envelope.id for d in batch])
            rows = _merge_by_fingerprint([d for d in batch if d.envelope.id in fresh])
            await self._link_joining(session, rows)
            upserted = (await session.execute(_UPSERT, rows_param(rows))).all() if rows else []
            by_key = {(a.source, a.fingerprint): a for a in upserted}
            missing = {(d.envelope.source, d.payload.fingerprint) for d in batch} - by_key.keys()
            if missing:  # re-delivered events: announce the stored rows again
                stored = await session.execute(
                    select(*ANNOUNCED).where(tuple_(Alert.source, Alert.fingerprint).in_(missing)))
                by_key.update({(a.source, a.fingerprint): a for a in stored})
        await self._announce(batch, by_key)
        await self.learner.learn(merged((edge(d.payload.service, d.payload.host), topology_labels(d.payload.labels))
                                        for d in batch))

    async def _link_joining(self, session: AsyncSession, rows: list[dict]) -> None:
        """A firing alert stored for the first time gets the incident its key is collecting when it joins that one
        (aggregator rule 1: open, and within the window of its last event), as the incident task will decide: that
        task, which has the last word, then finds the link in place instead of writing each new row again (a row
        version and its nine index entries, more than the insert cost). Anything else stays for it to link."""
        firing = [(row, alert_key(row["source"], row["fingerprint"], row["host"], row["service"]))
                  for row in rows if row["status"] != AlertStatus.resolved.value]
        latest = await incidents.latest_incidents(session, {key for _, key in firing})
        for row, key in firing:
            incident, at = latest.get(key), row["last_seen_at"]
            if incident and decide(incident, at if at.tzinfo else at.replace(tzinfo=UTC), self.policy) is Action.JOIN:
                row["incident_id"] = incident.id

    async def _announce(self, batch: list[Delivery[AlertPayload]], by_key: dict[tuple[str, str], Row]) -> None:
        envelopes = []
        for delivery in batch:
            alert = by_key[(delivery.envelope.source, delivery.payload.fingerprint)]
            payload = AlertStoredPayload(
                alert_id=alert.id, fingerprint=alert.fingerprint, title=alert.title,
                severity=alert.severity, status=alert.status, source=alert.source, host=alert.host,
                service=alert.service, count=alert.count,
                incident_id=alert.incident_id, occurred_at=_seen_at(delivery),
                score=_score(delivery.payload), signal=delivery.payload.signal,
            )
            envelopes.append(Envelope(id=delivery.envelope.id, type=ALERT_STORED, source=alert.source,
                                      trace=delivery.envelope.trace, payload=payload.model_dump(mode="json")))
        await self.bus.publish_and_broadcast(ALERTS_STORED, envelopes)


def _score(alert: AlertPayload) -> float | None:
    """An anomaly's score (the detector puts it in details), when it is a finite number."""
    score = alert.details.get("score")
    numeric = isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)
    return float(score) if numeric else None


def _merge_by_fingerprint(deliveries: list[Delivery[AlertPayload]]) -> list[dict]:
    """One row per (source, fingerprint): ON CONFLICT cannot touch the same row twice in one statement."""
    rows: dict[tuple[str, str], dict] = {}
    for d in sorted(deliveries, key=_seen_at):
        p, seen = d.payload, _seen_at(d)
        key = (d.envelope.source, p.fingerprint)
        row = rows.get(key)
        count = (row["count"] if row else 0) + 1
        first_seen = row["first_seen_at"] if row else seen
        rows[key] = {
            "id": row["id"] if row else new_event_id(),  # a uuid4's 32 hex digits, used only when the alert is new
            "source": d.envelope.source, "fingerprint": p.fingerprint, "title": p.title, "description": p.description, "severity": p.severity.value, "status": p.status.value,
            "host": p.host, "host_name": host_name(p.host), "service": p.service, "labels": p.labels,
            "annotations": p.annotations, "details": p.details, "url": p.url, "count": count,
            "first_seen_at": first_seen, "last_seen_at": seen, "last_event_id": d.envelope.id,
            "resolved_at": seen if p.status == AlertStatus.resolved else None,
            "incident_id": None,  # a new row's, set by _link_joining (a stored row keeps its own)
        }
    return list(rows.values())


def _seen_at(delivery: Delivery[AlertPayload]) -> datetime:
    return delivery.payload.occurred_at or delivery.envelope.time


ROW_COLUMNS = [Alert.__table__.c[name] for name in (
    "id", "source", "fingerprint", "title", "description", "severity", "status", "host", "host_name", "service",
    "labels", "annotations", "details", "url", "count", "first_seen_at", "last_seen_at", "last_event_id", "resolved_at", "incident_id")]


def _upsert() -> Insert:
    # A Core insert: given its parameters apart, an ORM one would read them as rows to insert ("bulk" mode).
    stmt = insert(Alert.__table__).from_select([c.name for c in ROW_COLUMNS], rows_select(ROW_COLUMNS))
    new = stmt.excluded
    newer = new.last_seen_at >= Alert.last_seen_at
    # A repeat of a firing alert that someone acknowledged stays acknowledged; an older event
    # arriving late never overwrites the newer state.
    status = case(
        (~newer, Alert.status),
        ((new.status == AlertStatus.firing.value) & (Alert.status == AlertStatus.acknowledged.value), Alert.status),
        else_=new.status,
    )
    return stmt.on_conflict_do_update(
        index_elements=[Alert.source, Alert.fingerprint],
        set_={
            "count": Alert.count + new.count,
            "status": status,
            "title": case((newer, new.title), else_=Alert.title),
            "description": case((newer, new.description), else_=Alert.description),
            "severity": case((newer, new.severity), else_=Alert.severity),
            "labels": case((newer, new.labels), else_=Alert.labels),
            "annotations": case((newer, new.annotations), else_=Alert.annotations),
            "details": case((newer, new.details), else_=Alert.details),
            # Only a row an older writer stored without one is repaired (a rolling deploy past migration 0022): host
            # is never updated, and host_name must stay its name (one fingerprint may fire from several hosts).
            "host_name": func.coalesce(Alert.host_name, new.host_name),
            "first_seen_at": func.least(Alert.first_seen_at, new.first_seen_at),
            "last_seen_at": func.greatest(Alert.last_seen_at, new.last_seen_at),
            "resolved_at": case((newer, new.resolved_at), else_=Alert.resolved_at),
            "last_event_id": case((newer, new.last_event_id), else_=Alert.last_event_id),
            "updated_at": func.now(),
        },
    ).returning(*ANNOUNCED)


_UPSERT = _upsert()  # built once: the rows travel as its one parameter (rows_param)
