"""A local Redfish service for tests: serves a DMTF-style mockup tree (`<root>/redfish/v1/.../index.json`, the
layout of the DMTF mockups and of sushy-static) that the test writes and changes, plus what static mockups
lack: SessionService sessions (POST with UserName/Password gives X-Auth-Token and Location, a DELETE of that
Location ends it, tokens can be expired by the test; the answer to a POST that created one waits while
`answer_sessions` is cleared), HTTP basic auth, and the EventService (DSP0266 "Eventing"): its
Subscriptions collection of EventDestinations (POST with Destination, Context and Protocol "Redfish" creates
one, 201 with its Location, its id the lowest free one as BMCs reuse them; GET and DELETE each; all 503 while
`events_unavailable`; the answer to a POST that created one waits while `answer_subscriptions` is cleared, a DELETE while
`answer_unsubscribes` is; `subscribe` adds one as such a POST does), and `send_event`, which POSTs an Event (its
`Events` records and the subscription's Context) to every Destination, as the BMC does when something happens.
Every other request without valid auth gets 401; a request named in `fail_requests` ("GET /redfish/v1/...")
gets a 500, as from a BMC failing on one resource."""

import asyncio
import base64
import itertools
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

USERNAME, PASSWORD = "root", "calvin"
SESSIONS = "/redfish/v1/SessionService/Sessions"
EVENT_SERVICE = "/redfish/v1/EventService"
SUBSCRIPTIONS = f"{EVENT_SERVICE}/Subscriptions"


def status_changed(component: str, health: str, event_id: str) -> dict[str, Any]:
    """An event record as DSP0266 and the ResourceEvent 1.0 message registry write it."""
    return {"EventType": "Alert", "EventId": event_id, "Severity": health, "MessageSeverity": health,
            "EventTimestamp": "2026-11-30T03:30:00+00:00",
            "Message": f"The health of resource `{component}` has changed to {health}.",
            "MessageId": f"ResourceEvent.1.0.ResourceStatusChanged{health}", "MessageArgs": [component, health],
            "OriginOfCondition": {"@odata.id": component}}


def mockup(root: Path, fan_health: str = "OK") -> None:
    """A one-system, one-chassis BMC, its resources abridged from the DMTF public-rackmount1 mockup."""
    resources: dict[str, Any] = {
        "": {"@odata.id": "/redfish/v1", "Systems": {"@odata.id": "/redfish/v1/Systems"},
             "Chassis": {"@odata.id": "/redfish/v1/Chassis"}, "EventService": {"@odata.id": EVENT_SERVICE}},
        "Systems": {"Members": [{"@odata.id": "/redfish/v1/Systems/437XR1138R2"}]},
        "Systems/437XR1138R2": {"@odata.id": "/redfish/v1/Systems/437XR1138R2", "Id": "437XR1138R2",
                                "PowerState": "On", "Status": {"State": "Enabled", "Health": "OK",
                                                               "HealthRollup": "OK" if fan_health == "OK" else fan_health}},
        "Chassis": {"Members": [{"@odata.id": "/redfish/v1/Chassis/1U"}]},
        "Chassis/1U": {"@odata.id": "/redfish/v1/Chassis/1U", "Id": "1U",
                       "Thermal": {"@odata.id": "/redfish/v1/Chassis/1U/Thermal"},
                       "Power": {"@odata.id": "/redfish/v1/Chassis/1U/Power"}},
        "Chassis/1U/Thermal": {
            "@odata.id": "/redfish/v1/Chassis/1U/Thermal",
            "Temperatures": [{"@odata.id": "/redfish/v1/Chassis/1U/Thermal#/Temperatures/0", "MemberId": "0",
                              "Name": "CPU1 Temp", "ReadingCelsius": 41, "Status": {"State": "Enabled", "Health": "OK"}}],
            "Fans": [{"@odata.id": "/redfish/v1/Chassis/1U/Thermal#/Fans/0", "MemberId": "0", "Name": "BaseBoard System Fan",
                      "Reading": 2100 if fan_health == "OK" else 0, "ReadingUnits": "RPM",
                      "Status": {"State": "Enabled", "Health": fan_health}}]},
        "Chassis/1U/Power": {
            "@odata.id": "/redfish/v1/Chassis/1U/Power",
            "PowerControl": [{"@odata.id": "/redfish/v1/Chassis/1U/Power#/PowerControl/0", "MemberId": "0",
                              "Name": "System Power Control", "PowerConsumedWatts": 344}],
            "PowerSupplies": [{"@odata.id": "/redfish/v1/Chassis/1U/Power#/PowerSupplies/0", "MemberId": "0",
                               "Name": "Power Supply Bay", "Status": {"State": "Enabled", "Health": "OK"}}]},
    }
    for path, body in resources.items():
        directory = root / "redfish" / "v1" / path
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "index.json").write_text(json.dumps(body))


class RedfishBmc(TestServer):
    """Served on a free port of 127.0.0.1 within `async with`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tokens: dict[str, str] = {}  # token -> session path
        self.answer_sessions = asyncio.Event()  # cleared: a POST that created a session waits for it to answer
        self.answer_sessions.set()
        self.fail_requests: set[str] = set()  # "METHOD /path": answered 500
        self.requests: list[str] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}  # path -> EventDestination
        self.events_unavailable = False
        self.answer_subscriptions = asyncio.Event()
        self.answer_subscriptions.set()
        self.answer_unsubscribes = asyncio.Event()  # cleared: a DELETE of a subscription waits for it
        self.answer_unsubscribes.set()
        self._ids = itertools.count(1)
        self._session_ids = itertools.count(1)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        super().__init__(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expire_sessions(self) -> None:
        self.tokens.clear()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path}")
        if f"{request.method} {request.path}" in self.fail_requests:
            return web.json_response({"error": {"message": "internal error"}}, status=500)
        if request.method == "POST" and request.path == SESSIONS:
            body = await request.json()
            if (body.get("UserName"), body.get("Password")) != (USERNAME, PASSWORD):
                return web.json_response({"error": {"message": "bad credentials"}}, status=401)
            token, path = secrets.token_hex(16), f"{SESSIONS}/{next(self._session_ids)}"
            self.tokens[token] = path
            await self.answer_sessions.wait()
            return web.json_response({"@odata.id": path}, status=201, headers={"X-Auth-Token": token, "Location": path})
        if not self._authorised(request):
            return web.json_response({"error": {"message": "unauthorised"}}, status=401)
        if request.path.startswith(EVENT_SERVICE):
            return await self._events(request)
        if request.method == "DELETE":
            ended = [token for token, path in self.tokens.items() if path == request.path.rstrip("/")]
            if not ended:
                return web.json_response({"error": {"message": "not found"}}, status=404)
            del self.tokens[ended[0]]
            return web.Response(status=204)
        file = self.root / request.path.strip("/") / "index.json"
        if ".." in request.path or not file.exists():
            return web.json_response({"error": {"message": "not found"}}, status=404)
        return web.Response(body=file.read_bytes(), content_type="application/json")

    def _authorised(self, request: web.Request) -> bool:
        if request.headers.get("X-Auth-Token") in self.tokens:
            return True
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def _events(self, request: web.Request) -> web.Response:
        path = request.path.rstrip("/")
        if self.events_unavailable:
            return web.json_response({"error": {"message": "EventService unavailable"}}, status=503)
        if (request.method, path) == ("GET", EVENT_SERVICE):
            return web.json_response({"@odata.id": EVENT_SERVICE, "@odata.type": "#EventService.v1_7_0.EventService",
                                      "Id": "EventService", "ServiceEnabled": True, "EventFormatTypes": ["Event"],
                                      "Subscriptions": {"@odata.id": SUBSCRIPTIONS}})
        if (request.method, path) == ("GET", SUBSCRIPTIONS):
            return web.json_response({"@odata.id": SUBSCRIPTIONS, "Members@odata.count": len(self.subscriptions),
                                      "Members": [{"@odata.id": member} for member in self.subscriptions]})
        if (request.method, path) == ("POST", SUBSCRIPTIONS):
            body = await request.json()
            if not str(body.get("Destination", "")).startswith(("http://", "https://")) or \
                    body.get("Protocol") != "Redfish":
                return web.json_response({"error": {"message": "Destination and Protocol Redfish required"}},
                                         status=400)
            member = self.subscribe(body["Destination"], body.get("Context"))
            await self.answer_subscriptions.wait()
            return web.json_response(self.subscriptions[member], status=201, headers={"Location": member})
        if path in self.subscriptions and request.method in ("GET", "DELETE"):
            if request.method == "DELETE":
                await self.answer_unsubscribes.wait()
            subscription = self.subscriptions.pop(path) if request.method == "DELETE" else self.subscriptions[path]
            return web.json_response(subscription)
        return web.json_response({"error": {"message": "not found"}}, status=404)

    def subscribe(self, destination: str, context: str | None) -> str:
        """An EventDestination, its id the lowest free one; its path."""
        member = next(path for n in itertools.count(1) if (path := f"{SUBSCRIPTIONS}/{n}") not in self.subscriptions)
        self.subscriptions[member] = {"@odata.id": member, "Id": member.rsplit("/", 1)[1],
                                      "@odata.type": "#EventDestination.v1_13_0.EventDestination",
                                      "Destination": destination, "Context": context, "Protocol": "Redfish",
                                      "EventFormatType": "Event", "SubscriptionType": "RedfishEvent"}
        return member

    async def send_event(self, *records: dict[str, Any]) -> list[int]:
        """An Event of `records` POSTed to every subscription's Destination; the statuses the receivers answered."""
        statuses = []
        async with aiohttp.ClientSession() as client:
            for subscription in list(self.subscriptions.values()):
                event = {"@odata.type": "#Event.v1_7_0.Event", "Id": str(next(self._ids)), "Name": "Event Array",
                         "Context": subscription["Context"], "Events": list(records)}
                async with client.post(subscription["Destination"], json=event) as answer:
                    statuses.append(answer.status)
        return statuses
