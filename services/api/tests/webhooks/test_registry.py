"""One registry of webhook receivers: every source kind of the contract has a receiver that takes sources of
that kind and ready-to-paste snippets, so a kind cannot be added (or a receiver listed) half way."""

from fastapi.routing import APIRoute

from aiops_api.sources.snippets import ENDPOINTS, source_snippets
from aiops_api.webhooks import ROUTERS, WEBHOOKS
from aiops_contracts.sources import SourceKind


def _source_kinds(route: APIRoute) -> set[str]:
    calls, todo = [], list(route.dependant.dependencies)
    while todo:
        dependency = todo.pop()
        calls.append(dependency.call)
        todo += dependency.dependencies
    return {call.source_kind for call in calls if hasattr(call, "source_kind")}


def test_every_source_kind_has_a_receiver_and_snippets() -> None:
    assert {webhook.KIND for webhook in WEBHOOKS} == set(SourceKind)  # pollers (worker) will serve kinds too
    assert set(ENDPOINTS) == set(SourceKind)
    for kind in SourceKind:
        assert source_snippets(kind, "https://aiops.example").items


def test_each_receiver_takes_the_kind_its_module_declares() -> None:
    assert [webhook.router for webhook in WEBHOOKS] == ROUTERS
    for webhook in WEBHOOKS:
        routes = [route for route in webhook.router.routes if isinstance(route, APIRoute)]
        assert routes and all(_source_kinds(route) == {webhook.KIND} for route in routes), webhook.__name__
