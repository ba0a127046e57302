"""Every route × every role × no / expired / forged token → the expected status.

Routes are read from the app itself, so a new route is covered the day it is added: it must either declare
a role (Viewer / Operator / Admin), take a webhook source credential, or be listed in PUBLIC below. A webhook
receiver takes sources of its own kind only, and only in the forms listed below.
"""

import uuid
from dataclasses import dataclass

import jwt
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.main import create_app
from aiops_api.settings import ApiSettings
from aiops_contracts.pollers import is_poller
from aiops_contracts.sources import SourceKind

# Open to anyone, and why: probes, the API's own documentation, and the sign-in routes (they take a
# password or a refresh token instead of an access token).
PUBLIC = {
    "/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
    "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout",
}
# Credentials other than the source token, and the only routes that take them: Sentry's DSN key (public, it
# ships in browser code) on the SDK endpoints; the body's HMAC on Sentry's integration webhook, which takes
# nothing else.
DSN_KEY_PATHS = {"/api/{project_id}/envelope/", "/api/{project_id}/store/"}
# HMAC-signed bodies, or a secret in the body (a Redfish Event's Context): a token alone gets 401
SIGNED_PATHS = {"/webhooks/sentry", "/webhooks/github", "/webhooks/redfish/{source_id}"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    policy: Role | str | None  # a role, the kind of source a webhook takes, or None for public

    @property
    def url(self) -> str:
        # Every path parameter of ours is an id: a random one passes validation and finds nothing.
        url = self.path
        while "{" in url:
            start, end = url.index("{"), url.index("}")
            url = url[:start] + str(uuid.uuid4()) + url[end + 1:]
        return url

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@pytest.fixture(scope="session")
def api_settings(api_settings: ApiSettings) -> ApiSettings:
    """Every bad credential of the matrix comes from one client: the failed-authentication limit, which would
    answer 429 after RATE_LIMIT_AUTH_FAILURES of them, has its own tests (test_ratelimit.py)."""
    return api_settings.model_copy(update={"rate_limit_auth_failures": 0})


def _calls(dependant) -> list:
    calls = []
    for dependency in dependant.dependencies:
        calls += [dependency.call, *_calls(dependency)]
    return calls


def _policy(route: APIRoute) -> Role | str | None:
    calls = _calls(route.dependant)
    roles = [call.required_role for call in calls if hasattr(call, "required_role")]
    if roles:
        return max(roles)
    kinds = [call.source_kind for call in calls if hasattr(call, "source_kind")]
    if kinds:
        return kinds[0]
    assert route.path in PUBLIC, f"{route.path} has no role and no source credential: add one, or list it as PUBLIC"
    return None


def _endpoints() -> list[Endpoint]:
    endpoints = []
    for context in iter_route_contexts(create_app(ApiSettings()).routes):
        route = context.original_route
        if isinstance(route, APIWebSocketRoute):
            continue  # tested below: browsers cannot send headers to a WebSocket
        if isinstance(route, APIRoute):
            policy = _policy(context)
        else:
            assert context.path in PUBLIC, f"{context.path}: unknown kind of route"
            policy = None
        endpoints += [Endpoint(method, context.path, policy) for method in sorted(context.methods - {"HEAD"})]
    return endpoints


ENDPOINTS = _endpoints()
PROTECTED = [e for e in ENDPOINTS if isinstance(e.policy, Role)]
WEBHOOKS = [e for e in ENDPOINTS if isinstance(e.policy, str)]


def bad_tokens(settings: ApiSettings) -> dict[str, str]:
    claims = {"sub": "mallory", "role": "admin", "typ": "access", "exp": 4_000_000_000}
    return {
        "expired": issue_access_token(settings, "bob", Role.admin, minutes=-1),
        "forged": issue_access_token(settings.model_copy(update={"jwt_secret": "not-our-secret-" * 3}), "m", Role.admin),
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "garbage": "not.a.jwt",
    }


def test_every_route_is_classified() -> None:
    assert {e.path for e in ENDPOINTS if e.policy is None} <= PUBLIC
    assert PROTECTED and {e.path for e in WEBHOOKS} >= DSN_KEY_PATHS | SIGNED_PATHS


# One test per column of the matrix, each walking every route (an app per parametrised case would
# spend the time on startups); a failure lists every cell that is wrong.


async def test_no_or_bad_token_is_401(client, api_settings) -> None:
    wrong = []
    for endpoint in (e for e in ENDPOINTS if e.policy is not None):
        tokens = {"none": None, **bad_tokens(api_settings)}
        for name, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            status = (await client.request(endpoint.method, endpoint.url, headers=headers)).status_code
            if status != 401:
                wrong.append((str(endpoint), name, status))
    assert wrong == []


async def test_each_role_gets_403_below_and_through_at_or_above(client, auth) -> None:
    wrong = []
    for endpoint in PROTECTED:
        for role in Role:
            status = (await client.request(endpoint.method, endpoint.url, headers=auth(role))).status_code
            expected_403 = role < endpoint.policy
            if expected_403 != (status == 403) or status == 401:
                wrong.append((str(endpoint), role.name, status))
    assert wrong == []


def credential_forms(token: str) -> dict[str, tuple[str, dict[str, str]]]:
    """(query string, headers) per way of presenting a source token."""
    return {"token": ("", {"X-AIOps-Token": token}),
            "dsn header": ("", {"X-Sentry-Auth": f"Sentry sentry_key={token}, sentry_version=7"}),
            "dsn query": (f"?sentry_key={token}&sentry_version=7", {})}


def expected_outcome(endpoint: Endpoint, kind: str, form: str) -> str:
    if endpoint.path in SIGNED_PATHS or (form.startswith("dsn") and endpoint.path not in DSN_KEY_PATHS):
        return "401"
    return "through" if kind == endpoint.policy else "403"


async def test_webhooks_take_their_own_source_credential_only(client, auth, make_source) -> None:
    # Polled sources have no token (the GitHub webhook is signed with the polled source's secret instead).
    tokens = {kind: (await make_source(f"matrix-{kind}", kind)).token for kind in SourceKind if not is_poller(kind)}
    wrong = []
    for endpoint in WEBHOOKS:
        with_jwt = (await client.request(endpoint.method, endpoint.url, headers=auth(Role.admin))).status_code
        if with_jwt != 401:
            wrong.append((str(endpoint), "admin JWT", with_jwt))
        for kind, token in tokens.items():
            for form, (query, headers) in credential_forms(token).items():
                status = (await client.request(endpoint.method, endpoint.url + query, headers=headers)).status_code
                outcome = str(status) if status in (401, 403) else "through"
                if outcome != expected_outcome(endpoint, kind, form):
                    wrong.append((str(endpoint), kind, form, status))
    assert wrong == []


async def test_public_routes_need_no_token(client) -> None:
    statuses = {str(e): (await client.request(e.method, e.url)).status_code for e in ENDPOINTS if e.policy is None}
    assert {name: status for name, status in statuses.items() if status in (401, 403)} == {}


def test_websocket_needs_a_valid_token(api_settings, redis_url) -> None:
    app = create_app(api_settings)
    with TestClient(app) as client:
        for token in ["", *bad_tokens(api_settings).values()]:
            with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(f"/ws?token={token}") as ws:
                ws.receive_text()
            assert refused.value.code == 1008
        with client.websocket_connect(f"/ws?token={issue_access_token(api_settings, 'v', Role.viewer)}"):
            pass  # accepted


def test_incident_routes_read_as_viewer_and_act_as_operator() -> None:
    # Pinned, so that loosening the acknowledge / resolve routes to Viewer cannot pass unnoticed.
    assert {str(e): e.policy for e in ENDPOINTS if e.path.startswith("/api/v1/incidents")} == {
        "GET /api/v1/incidents": Role.viewer,
        "GET /api/v1/incidents/{incident_id}": Role.viewer,
        "GET /api/v1/incidents/{incident_id}/logs": Role.viewer,
        "GET /api/v1/incidents/{incident_id}/alerts": Role.viewer,
        "GET /api/v1/incidents/{incident_id}/evidence": Role.viewer,
        "POST /api/v1/incidents/{incident_id}/acknowledge": Role.operator,
        "POST /api/v1/incidents/{incident_id}/resolve": Role.operator,
        "POST /api/v1/incidents/{incident_id}/reopen": Role.operator,
        "POST /api/v1/incidents/{incident_id}/split": Role.operator,
    }
