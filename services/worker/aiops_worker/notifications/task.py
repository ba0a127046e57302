"""Notifications: each incident change goes through the routing list to its receivers, grouped, so that nobody
is told twice: a (receiver, group, state) is claimed in Redis (SET NX with repeat_interval as its life) before
the call, by whichever replica gets there first; a failed call gives the claim back and the entry is retried."""

import logging
import uuid

from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import array

from aiops_contracts.db import Incident
from aiops_contracts.events import IncidentChangedPayload, IncidentStatus
from aiops_contracts.streams import INCIDENTS_CHANGED
from aiops_worker.notifications.routing import Route, load_routing
from aiops_worker.notifications.senders import Sender
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
SENT_KEY = "aiops:notifications:sent"


class NotificationTask(StreamConsumer[IncidentChangedPayload]):
    name = "notifications"
    stream = INCIDENTS_CHANGED
    payload_model = IncidentChangedPayload
    scales_out = True  # the Redis claim makes each notification once, whichever replica sends it

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.routing = load_routing(ctx.settings.notifications_path)  # a bad file stops the start
        self.sender = Sender(ctx.settings)
        self.sent = 0
        self.suppressed = 0

    async def handle(self, batch: list[Delivery[IncidentChangedPayload]]) -> None:
        for delivery in batch:
            if await self._inhibited(delivery.payload):
                self.suppressed += 1
                continue
            for route in self.routing.routes_for(delivery.payload):
                await self._notify(route, delivery.payload)

    async def _inhibited(self, incident: IncidentChangedPayload) -> bool:
        """Muted by an open incident of a source severity on one of its hosts (a resolution is never muted)."""
        rules = [r for r in self.routing.inhibit if incident.severity in r.target_severity]
        if not rules or not incident.hosts or incident.status == IncidentStatus.resolved:
            return False
        async with self.ctx.sessions() as session:
            for rule in rules:
                muting = await session.scalar(select(Incident.id).where(
                    Incident.status != IncidentStatus.resolved, Incident.severity.in_(rule.source_severity),
                    Incident.hosts.op("?|")(array(incident.hosts, type_=String)),
                    Incident.id != uuid.UUID(incident.incident_id)).limit(1))
                if muting is not None:
                    return True
        return False

    async def _notify(self, route: Route, incident: IncidentChangedPayload) -> None:
        key = f"{self.bus.prefix}{SENT_KEY}:{route.receiver}:{route.group_key(incident)}:{incident.status.value}"
        if not await self.redis.set(key, incident.incident_id, nx=True, px=int(route.repeat_interval_s * 1000)):
            self.suppressed += 1
            return
        try:
            await self.sender.send(self.routing.receiver(route.receiver), incident)
        except BaseException:
            await self.redis.delete(key)  # not told: a retry of the entry may tell them
            raise
        self.sent += 1
        log.info("notification sent", extra={"receiver": route.receiver, "incident_id": incident.incident_id})
