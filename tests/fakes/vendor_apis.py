"""Local servers speaking the documented HTTP APIs the pollers read, their answers written from the vendors'
documented examples: Datadog (GET /api/v1/validate, /api/v1/query, /api/v2/logs/events with cursor pages),
Splunk (POST /services/search/jobs/export streaming JSON rows, GET /services/server/info) and ThousandEyes
v7 (GET /v7/tests, /v7/test-results/{id}/network with `_links.next`). Each checks its auth header, can answer
one 429 with the vendor's reset header first (`rate_limit_once`), and records the requests it got."""

import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

DATADOG_API_KEY, DATADOG_APP_KEY = "9775a026f1ca7d1c6c5af9d94d9595a4", "87ce4a24b5553d2e482ea8a8500e71b8ad4554ff"
SPLUNK_TOKEN = "eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIifQ"
THOUSANDEYES_TOKEN = "6e2bbb63-a4f9-44dd-9ba8-a0bd18bbc7f9"


class VendorApi(TestServer):
    """Served on a free port of 127.0.0.1 within `async with`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, query
        self.rate_limit_once = False
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        super().__init__(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def authorised(self, request: web.Request) -> bool:
        raise NotImplementedError

    def rate_limited(self) -> web.Response:
        raise NotImplementedError

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query)))
        if not self.authorised(request):
            return web.json_response({"errors": ["Forbidden"]}, status=403)
        if self.rate_limit_once:
            self.rate_limit_once = False
            return self.rate_limited()
        return await handler(request)


class Datadog(VendorApi):
    """docs.datadoghq.com/api/latest/metrics/#query-timeseries-points and /logs/#get-a-list-of-logs"""

    def authorised(self, request: web.Request) -> bool:
        return (request.headers.get("DD-API-KEY"), request.headers.get("DD-APPLICATION-KEY")) == (
            DATADOG_API_KEY, DATADOG_APP_KEY)

    def rate_limited(self) -> web.Response:
        return web.json_response({"errors": ["Rate limit exceeded"]}, status=429, headers={
            "X-RateLimit-Limit": "100", "X-RateLimit-Period": "60", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "1", "X-RateLimit-Name": "query"})

    def routes(self) -> list[web.RouteDef]:
        async def validate(_: web.Request) -> web.Response:
            return web.json_response({"valid": True})

        async def query(request: web.Request) -> web.Response:
            start = int(request.query["from"]) * 1000
            return web.json_response({
                "status": "ok", "res_type": "time_series", "query": request.query["query"],
                "from_date": start, "to_date": int(request.query["to"]) * 1000,
                "series": [{"metric": "system.cpu.user", "display_name": "system.cpu.user", "scope": "host:web-1",
                            "tag_set": ["host:web-1"], "expression": "avg:system.cpu.user{host:web-1}",
                            "pointlist": [[start + 1000, 12.5], [start + 21000, 14.0], [start + 41000, None]]}]})

        async def logs(request: web.Request) -> web.Response:
            second = request.query.get("page[cursor]") == "eyJhZnRlciI6IkFRQUFBWE"
            event = {"id": "AAAAAWgN8Xwgr1vKDQAAAABBV2dOOFh3ZzZobm1mWXJFYTR0OA" + ("2" if second else "1"),
                     "type": "log", "attributes": {
                         "timestamp": "2019-01-02T09:42:36.320Z", "host": "i-0123", "service": "agent",
                         "status": "error", "message": "payment failed" if second else "upstream timed out",
                         "tags": ["team:A"], "attributes": {"customAttribute": 123}}}
            page: dict[str, Any] = {"data": [event], "meta": {"status": "done", "elapsed": 132}}
            if not second:
                page["meta"]["page"] = {"after": "eyJhZnRlciI6IkFRQUFBWE"}
                page["links"] = {"next": "https://api.datadoghq.com/api/v2/logs/events?page[cursor]=eyJhZnRlciI6IkFRQUFBWE"}
            return web.json_response(page)

        return [web.get("/api/v1/validate", validate), web.get("/api/v1/query", query),
                web.get("/api/v2/logs/events", logs)]


class Splunk(VendorApi):
    """docs.splunk.com: REST API search endpoints, search/jobs/export (output_mode=json streams one row per line)"""

    def authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {SPLUNK_TOKEN}"

    def rate_limited(self) -> web.Response:
        return web.Response(status=503, text="Search not executed: too many concurrent searches",
                            headers={"Retry-After": "1"})

    def routes(self) -> list[web.RouteDef]:
        async def info(_: web.Request) -> web.Response:
            return web.json_response({"entry": [{"name": "server-info", "content": {"version": "9.1.2"}}]})

        async def export(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            self.requests[-1] = (*self.requests[-1][:2], {k: str(v) for k, v in form.items()})
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            rows = [{"preview": False, "offset": 0, "result": {
                        "_raw": "2024-05-01 10:00:01 ERROR db connection refused", "_time": "2024-05-01T10:00:01.000+00:00",
                        "host": "db-1", "source": "/var/log/app.log", "sourcetype": "app", "index": "main"}},
                    {"preview": False, "offset": 1, "result": {
                        "_raw": "2024-05-01 10:00:02 ERROR retry failed", "_time": "2024-05-01T10:00:02.000+00:00",
                        "host": "db-1", "source": "/var/log/app.log", "sourcetype": "app", "index": "main"}},
                    {"preview": False, "offset": 2, "lastrow": True, "result": {}}]
            for row in rows:  # written one by one: the client reads the stream as it comes
                await response.write(web.json_response(row).body + b"\n")  # type: ignore[operator]
            await response.write_eof()
            return response

        return [web.get("/services/server/info", info), web.post("/services/search/jobs/export", export)]


class ThousandEyes(VendorApi):
    """developer.cisco.com/docs/thousandeyes: v7 tests and network test results (HAL `_links.next` pages)"""

    def authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {THOUSANDEYES_TOKEN}"

    def rate_limited(self) -> web.Response:
        return web.json_response({"error": "rate limit"}, status=429, headers={
            "x-organization-rate-limit-limit": "240", "x-organization-rate-limit-remaining": "0",
            "x-organization-rate-limit-reset": str(int(time.time()) + 1)})

    def routes(self) -> list[web.RouteDef]:
        async def tests(_: web.Request) -> web.Response:
            return web.json_response({"tests": [
                {"testId": "281474976710706", "testName": "api.example.com", "type": "agent-to-server",
                 "interval": 300, "enabled": True}], "_links": {"self": {"href": f"{self.url}/v7/tests"}}})

        async def network(request: web.Request) -> web.Response:
            second = request.query.get("cursor") == "2"
            rows = [{"agentId": "3", "agentName": "Frankfurt, Germany", "date": "2022-07-17T22:00:54Z",
                     "roundId": 1658095200 + (300 if second else 0), "avgLatency": 12.3 if not second else 250.0,
                     "minLatency": 10.1, "maxLatency": 15.2, "loss": 0.0, "jitter": 0.8, "serverIp": "93.184.216.34"}]
            page: dict[str, Any] = {"test": {"testId": request.match_info["id"], "testName": "api.example.com"},
                                    "results": rows, "_links": {}}
            if not second:
                page["_links"]["next"] = {"href": f"{self.url}/v7/test-results/{request.match_info['id']}"
                                                  "/network?window=10m&cursor=2"}
            return web.json_response(page)

        return [web.get("/v7/tests", tests), web.get("/v7/test-results/{id}/network", network)]
