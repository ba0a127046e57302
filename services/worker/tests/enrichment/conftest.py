"""Enrichment fixtures: each test gets its own ChromaDB `incidents` collection."""

import pytest

from aiops_worker.settings import WorkerSettings


@pytest.fixture(autouse=True)
def incidents_collection(worker_settings: WorkerSettings, own_incidents_collection) -> None:
    own_incidents_collection(worker_settings)
