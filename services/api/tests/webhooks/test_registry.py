"""One registry of webhook receivers: every source kind of the contract is served, pushed kinds by a receiver
that takes sources of that kind and ready-to-paste snippets, polled kinds by a worker poller (one of them,
github_actions, also has a signed receiver), so a kind cannot be added (or a receiver listed) half way."""

from fastapi.routing import APIRoute

from aiops_api.sources.snippets import ENDPOINTS, source_snippets
from aiops_api.webhooks import ROUTERS, WEBHOOKS
from aiops_contracts.pollers import is_poller
from aiops_contracts.sources import SourceKind


def _source_kinds(route: APIRoute) -> set[str]:
    calls, todo = [], list(route.dependant.dependencies)
    while todo:
        dependency = todo.pop()
        calls.append(dependency.call)
        todo += dependency.dependencies
    return {call.source_kind for call in calls if hasattr(call, "source_kind")}


def test_every_source_kind_has_a_receiver_or_a_poller() -> None:
    received = {webhook.KIND for webhook in WEBHOOKS}
    polled = {kind for kind in SourceKind if is_poller(kind)}
    assert received | polled == set(SourceKind)


def test_every_pushed_kind_has_snippets() -> None:
    pushed = {kind for kind in SourceKind if not is_poller(kind)}
    assert set(ENDPOINTS) == pushed  # a polled source has no token to paste: the worker reads it
    for kind in pushed:
        assert source_snippets(kind, "https://aiops.example").items


def test_each_receiver_takes_the_kind_its_module_declares() -> None:
    assert [webhook.router for webhook in WEBHOOKS] == ROUTERS
    for webhook in WEBHOOKS:
        routes = [route for route in webhook.router.routes if isinstance(route, APIRoute)]
        assert routes and all(_source_kinds(route) == {webhook.KIND} for route in routes), webhook.__name__
