"""The declared topology file: validated with errors naming the line, stored as `file` edges at start (the
file's edges replace the previous ones, an API-declared edge stays declared), and the bundled example loads."""

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.db import TopologyEdge
from aiops_worker.incidents.topology_file import TopologyFileError, install_topology, load_topology_file

EXAMPLE = Path(__file__).parents[2] / "aiops_worker" / "incidents" / "topology.example.yml"


def test_the_example_file_loads() -> None:
    assert ("depends_on", "checkout", "postgres") in load_topology_file(EXAMPLE)
    assert ("runs_on", "postgres", "db-1") in load_topology_file(EXAMPLE)  # db-1.example.internal, normalised


@pytest.mark.parametrize(("body", "line", "words"), [
    ("services:\n  checkout:\n    depends_on: [postgres]\n    needs: [redis]\n", 4, "services.checkout.needs"),
    ("services:\n  checkout:\n    depends_on: postgres\n", 3, "services.checkout.depends_on: Input should be a valid list"),
    ("services:\n  checkout:\n    depends_on: [\"\"]\n", 3, "services.checkout.depends_on.0"),
    ("services:\n  a: {}\n  checkout:\n    depends_on: [Checkout]\n", 4, "cannot depend on itself"),
    ("services: [checkout]\n", 1, "services: Input should be a valid dictionary"),
    ("services:\n  checkout: [\n", None, "while parsing"),
])
def test_an_invalid_file_names_the_line(tmp_path: Path, body: str, line: int | None, words: str) -> None:
    path = tmp_path / "topology.yml"
    path.write_text(body)
    with pytest.raises(TopologyFileError) as error:
        load_topology_file(path)
    assert words in str(error.value)
    if line is not None:
        assert str(error.value).startswith(f"{path}:{line}: ")


async def edges(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(select(TopologyEdge.kind, TopologyEdge.source, TopologyEdge.target,
                                            TopologyEdge.origin).order_by(TopologyEdge.kind, TopologyEdge.source,
                                                                          TopologyEdge.target))
        return [tuple(row) for row in rows]


async def test_the_file_edges_replace_the_previous_ones(tmp_path: Path, sessions: async_sessionmaker[AsyncSession],
                                                        clean_db: None) -> None:
    async with sessions.begin() as session:
        session.add_all([TopologyEdge(kind="depends_on", source="billing", target="postgres", origin="declared", labels={}),
                         TopologyEdge(kind="runs_on", source="checkout", target="app-1", origin="learned", labels={})])
    path = tmp_path / "topology.yml"
    path.write_text("services:\n  checkout:\n    depends_on: [Redis]\n    runs_on: ['APP-1:8080']\n"
                    "  billing:\n    depends_on: [postgres]\n")
    await install_topology(sessions, str(path))
    assert await edges(sessions) == [("depends_on", "billing", "postgres", "declared"),
                                     ("depends_on", "checkout", "redis", "file"),
                                     ("runs_on", "checkout", "app-1", "file")]
    path.write_text("services:\n  checkout:\n    depends_on: [kafka]\n")
    await install_topology(sessions, str(path))
    assert await edges(sessions) == [("depends_on", "billing", "postgres", "declared"),
                                     ("depends_on", "checkout", "kafka", "file")]
    await install_topology(sessions, "")
    assert await edges(sessions) == [("depends_on", "billing", "postgres", "declared")]
