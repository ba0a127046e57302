"""Notifications, telling: every due group (notification_groups.due_at passed) is looked at by one flusher
(FOR UPDATE SKIP LOCKED: two never tell a group twice). Its incidents less the silenced and the inhibited (an open incident of a source
severity on the same host: a critical host-down mutes that host's warnings; a resolution is never muted) are
told in one notification when what they are differs from what was last told, or after repeat_interval
unchanged. The group is then due again group_interval later, or deleted once all its incidents are resolved.
Each notification, sent or failed, is a row of `notifications`."""

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
from aiops_worker.notifications.senders import ReceiverUnavailable, Sender, notice
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
            groups = (await session.scalars(
                select(NotificationGroup).where(NotificationGroup.due_at <= now).order_by(NotificationGroup.due_at)
                .limit(GROUPS_PER_TICK).with_for_update(skip_locked=True))).all()
            silences = [[Matcher.model_validate(m) for m in matchers] for matchers in await session.scalars(
                select(Silence.matchers).where(Silence.starts_at <= now, Silence.ends_at > now))]
            sent, known = 0, {r.name for r in self.routing.receivers}
            for group in groups:
                if group.receiver not in known:  # notifications.yml names it no longer
                    await session.delete(group)
                    continue
                sent += await self._flush_group(session, group, silences, now)
        return sent

    async def _flush_group(self, session: AsyncSession, group: NotificationGroup, silences: list[list[Matcher]],
                           now: datetime) -> int:
        incidents = {i: f for i, f in group.incidents.items()  # a resolution nobody was told of the firing of: dropped
                     if f["status"] != IncidentStatus.resolved or i in group.told}
        visible = {i: f for i, f in incidents.items()
                   if not any(silenced(s, facts(f)) for s in silences) and not await _inhibited(session, self.routing, f)}
        current = {i: state(f) for i, f in visible.items()}
        changed = any(group.told.get(i) != s for i, s in current.items())
        repeat = (group.last_sent_at is not None and now - group.last_sent_at >= timedelta(seconds=group.repeat_interval_s)
                  and any(f["status"] != IncidentStatus.resolved for f in visible.values()))
        told = changed or repeat
        if told and not await self._send(session, group, list(visible.values())):
            group.due_at = now + timedelta(seconds=min(RETRY_S, group.group_interval_s))
            return 0
        if told:
            group.told, group.last_sent_at = {**group.told, **current}, now
        remaining = {i: f for i, f in incidents.items() if f["status"] != IncidentStatus.resolved}
        if not remaining:
            await session.execute(delete(NotificationGroup).where(NotificationGroup.id == group.id))
            return int(told)
        group.incidents = remaining
        group.told = {i: s for i, s in group.told.items() if i in remaining}
        group.due_at = now + timedelta(seconds=group.group_interval_s)
        return int(told)

    async def _send(self, session: AsyncSession, group: NotificationGroup, incidents: list[dict[str, Any]]) -> bool:
        message = notice(group.receiver, group.group_key, incidents)
        status, detail = NotificationStatus.sent, ""
        try:
            await self.sender.send(self.routing.receiver(group.receiver), message)
        except ReceiverUnavailable as exc:
            status, detail = NotificationStatus.failed, str(exc)
            log.warning("notification failed", extra={"receiver": group.receiver, "error": detail})
        session.add(Notification(receiver=group.receiver, group_key=group.group_key, status=status.value,
                                 subject=message.subject, incident_ids=[i["incident_id"] for i in message.incidents],
                                 detail=detail))
        return status == NotificationStatus.sent


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
