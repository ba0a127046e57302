"""The URLs renamed in 0.2 still answer, with the same handler as their new path, marked deprecated."""

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from aiops_api.auth.tokens import Role
from aiops_api.deprecated import RENAMED


def test_each_old_path_documents_its_new_one_as_deprecated(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for old, new in RENAMED.items():
        (method, current), = paths[new].items()
        alias = paths[old][method]
        assert alias["deprecated"] is True and "deprecated" not in current
        assert alias["parameters"] == current["parameters"] and alias["responses"] == current["responses"]
        assert alias["operationId"] == f"{current['operationId']}_deprecated"


async def test_an_old_path_answers_like_its_new_one(client: httpx.AsyncClient, auth: Callable) -> None:
    for old, new in (("/api/v1/analytics/exhaustion", "/api/v1/forecasts/exhaustion"),
                     ("/api/v1/analytics/anomalies", "/api/v1/anomalies")):
        before, after = [await client.get(path, headers=auth(Role.viewer)) for path in (old, new)]
        assert before.status_code == after.status_code == 200 and before.json() == after.json()
        assert (await client.get(old)).status_code == 401
