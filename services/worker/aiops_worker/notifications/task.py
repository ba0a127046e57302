"""Notifications, gathering: each incident change goes through the routing list and lands in its receivers'
groups (notification_groups, one row per receiver and group_by value, upserted: an incident's facts gathered last
replace those gathered before). Replicas and redeliveries may gather an incident's changes out of order, so the
facts left may be older than others gathered; notifications/flush.py tells each incident's status as PostgreSQL
holds it when the group is due. A new group is due group_wait later."""

from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert

from aiops_contracts.db import NotificationGroup
from aiops_contracts.envelope import utcnow
from aiops_contracts.events import IncidentChangedPayload
from aiops_contracts.streams import INCIDENTS_CHANGED
from aiops_worker.notifications.routing import Route, load_routing
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext


class NotificationTask(StreamConsumer[IncidentChangedPayload]):
    name = "notifications"
    stream = INCIDENTS_CHANGED
    payload_model = IncidentChangedPayload
    scales_out = True  # groups are upserted: any replica may gather any change

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.routing = load_routing(ctx.settings.notifications_path)  # a bad file stops the start

    async def handle(self, batch: list[Delivery[IncidentChangedPayload]]) -> None:
        groups: dict[tuple[str, str], tuple[Route, dict[str, dict]]] = {}
        for delivery in batch:  # in stream order: an incident's last change in the batch wins
            incident = delivery.payload
            for index, route in self.routing.routes_for(incident):
                key = (route.receiver, f"{index}:{route.group_key(incident)}")
                groups.setdefault(key, (route, {}))[1][incident.incident_id] = incident.model_dump(mode="json")
        if not groups:
            return
        now = utcnow()
        async with self.ctx.sessions.begin() as session:
            for (receiver, group_key), (route, incidents) in sorted(groups.items(), key=lambda item: item[0]):
                stmt = insert(NotificationGroup).values(
                    receiver=receiver, group_key=group_key, incidents=incidents, told={},
                    group_interval_s=route.group_interval_s, repeat_interval_s=route.repeat_interval_s,
                    due_at=now + timedelta(seconds=route.group_wait_s))
                await session.execute(stmt.on_conflict_do_update(
                    index_elements=[NotificationGroup.receiver, NotificationGroup.group_key],
                    set_={"incidents": NotificationGroup.incidents.op("||")(stmt.excluded.incidents)}))
