"""Notifications, telling: every due group (notification_groups.due_at passed) is looked at by one flusher. Its
incidents less the silenced and the inhibited (an open incident of a source severity on the same host: a critical
host-down mutes that host's warnings; a resolution is never muted) are told in one notification when what they are
differs from what was last told, or after repeat_interval unchanged. Each incident's status is read from PostgreSQL
then, not taken from the changes gathered (those may arrive out of order). The group is then due again group_interval
later, or deleted once all its incidents are resolved. Each notification, sent or failed, is a row of
`notifications`.

A group is claimed in a short transaction (FOR UPDATE SKIP LOCKED, its due time moved past the longest send, so
another flusher passes it by), told with no transaction open, and its outcome recorded in another: a slow receiver
never holds a row lock that the gathering task (notifications/task.py) would wait on. What was gathered while it was
being told stays in the group for the next flush."""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, delete, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Incident, Notification, NotificationGroup, Silence
from aiops_contracts.envelope import utcnow
from aiops_contracts.events import IncidentStatus
from aiops_contracts.notifications import Matcher, NotificationStatus, silenced
from aiops_worker.notifications.routing import Routing, load_routing
from aiops_worker.notifications.senders import RETRIES, ReceiverUnavailable, Sender, notice
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import PeriodicTask

log = logging.getLogger(__name__)
GROUPS_PER_TICK = 100
RETRY_S = 30.0  # a group whose notification failed is tried again this soon (or at group_interval if sooner)


def facts(incident: dict[str, Any]) -> dict[str, list[str]]:
    return {"host": incident["hosts"], "service": incident["services"], "severity": [incident["severity"]],
            "title": [incident["title"]]}


def state(incident: dict[str, Any]) -> str:
    return f"{incident['status']}/{incident['severity']}"


class NotificationFlushTask(PeriodicTask):
    name = "notifications-flush"  # a periodic task: on the single worker (each group locked all the same)

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx.settings.notifications_flush_s)
        self.ctx = ctx
        self.routing: Routing = load_routing(ctx.settings.notifications_path)
        self.sender = Sender(ctx.settings)

    async def tick(self, stop: asyncio.Event) -> None:
        await self.flush(utcnow())

    async def flush(self, now: datetime) -> int:
        """Tell the groups due at `now`; returns how many notifications were sent."""
        async with self.ctx.sessions.begin() as session:
            known = [r.name for r in self.routing.receivers]  # a group of a receiver notifications.yml no longer names
            await session.execute(delete(NotificationGroup).where(NotificationGroup.receiver.not_in(known)))
            silences = [[Matcher.model_validate(m) for m in matchers] for matchers in await session.scalars(
                select(Silence.matchers).where(Silence.starts_at <= now, Silence.ends_at > now))]
        sent = 0
        for _ in range(GROUPS_PER_TICK):
            claimed = await self._claim(now)
            if claimed is None:
                break
            sent += await self._flush_group(claimed, silences, now)
        return sent

    async def _claim(self, now: datetime) -> NotificationGroup | None:
        async with self.ctx.sessions.begin() as session:
            group = await session.scalar(
                select(NotificationGroup).where(NotificationGroup.due_at <= now).order_by(NotificationGroup.due_at)
                .limit(1).with_for_update(skip_locked=True))
            if group is not None:  # held from the claim on (a tick's earlier sends may have taken long)
                group.due_at = max(now, utcnow()) + timedelta(
                    seconds=RETRIES * (self.ctx.settings.notification_timeout_s + 1) + 5)
            return group

    async def _flush_group(self, claimed: NotificationGroup, silences: list[list[Matcher]], now: datetime) -> int:
        async with self.ctx.sessions() as session:
            gathered = await _with_current_status(session, claimed.incidents)
            incidents = {i: f for i, f in gathered.items()  # a resolution nobody was told of the firing of: dropped
                         if f["status"] != IncidentStatus.resolved or i in claimed.told}
            visible = {i: f for i, f in incidents.items() if not any(silenced(s, facts(f)) for s in silences)
                       and not await _inhibited(session, self.routing, f)}
        current = {i: state(f) for i, f in visible.items()}
        changed = any(claimed.told.get(i) != s for i, s in current.items())
        repeat = (claimed.last_sent_at is not None
                  and now - claimed.last_sent_at >= timedelta(seconds=claimed.repeat_interval_s)
                  and any(f["status"] != IncidentStatus.resolved for f in visible.values()))
        notification = await self._send(claimed, list(visible.values())) if changed or repeat else None
        async with self.ctx.sessions.begin() as session:
            group = await session.get(NotificationGroup, claimed.id, with_for_update=True)
            if notification is not None:
                session.add(notification)
            if group is None:  # claimed by another flusher after this one's claim ran out, and deleted there
                return 0
            if notification is not None and notification.status == NotificationStatus.failed:
                group.due_at = now + timedelta(seconds=min(RETRY_S, group.group_interval_s))
                return 0
            if notification is not None:
                group.told, group.last_sent_at = {**group.told, **current}, now
            # Resolved incidents leave the group, unless they changed since the claim (not told yet).
            remaining = {i: f for i, f in (await _with_current_status(session, group.incidents)).items()
                         if f["status"] != IncidentStatus.resolved or gathered.get(i) != f}
            if not remaining:
                await session.delete(group)
                return int(notification is not None)
            group.incidents = remaining
            group.told = {i: s for i, s in group.told.items() if i in remaining}
            group.due_at = now + timedelta(seconds=group.group_interval_s)
        return int(notification is not None)

    async def _send(self, group: NotificationGroup, incidents: list[dict[str, Any]]) -> Notification:
        message = notice(group.receiver, group.group_key, incidents)
        status, detail = NotificationStatus.sent, ""
        try:
            await self.sender.send(self.routing.receiver(group.receiver), message)
        except ReceiverUnavailable as exc:
            status, detail = NotificationStatus.failed, str(exc)
            log.warning("notification failed", extra={"receiver": group.receiver, "error": detail})
        return Notification(receiver=group.receiver, group_key=group.group_key, status=status.value,
                            subject=message.subject, incident_ids=[i["incident_id"] for i in message.incidents],
                            detail=detail)


async def _with_current_status(session: AsyncSession, incidents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The gathered facts with each incident's status as PostgreSQL holds it now. Changes are gathered in any order
    (replicas, an older change redelivered after a crash, or gathered again after its group was told and dropped), so
    the status they last left in the group may be stale: a resolved incident told as firing and repeated forever, or a
    reopened one kept resolved. An incident without a row keeps the status gathered."""
    statuses = {row.id: row.status.value for row in await session.execute(
        select(Incident.id, Incident.status).where(Incident.id.in_([uuid.UUID(i) for i in incidents])))}
    return {i: {**f, "status": statuses.get(uuid.UUID(i), f["status"])} for i, f in incidents.items()}


async def _inhibited(session: AsyncSession, routing: Routing, incident: dict[str, Any]) -> bool:
    """Muted by an open incident of a source severity on one of its hosts (a resolution is never muted)."""
    rules = [r for r in routing.inhibit if incident["severity"] in r.target_severity]
    if not rules or not incident["hosts"] or incident["status"] == IncidentStatus.resolved:
        return False
    for rule in rules:
        muting = await session.scalar(select(Incident.id).where(
            Incident.status != IncidentStatus.resolved, Incident.severity.in_(rule.source_severity),
            Incident.hosts.op("?|")(array(incident["hosts"], type_=String)),
            Incident.id != uuid.UUID(incident["incident_id"])).limit(1))
        if muting is not None:
            return True
    return False
