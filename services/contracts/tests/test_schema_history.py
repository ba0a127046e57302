"""The models and the migrations agree: a database upgraded to head is what `aiops_contracts.db.metadata` describes
(Alembic's autogenerate finds nothing to do), and the history is one line with one head, so every database
runs the same revisions in the same order."""

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from aiops_contracts.db import metadata
from aiops_contracts.db.migrate import ALEMBIC_INI

# The merge revision that joined the three branches written before this check; revisions after it form a line.
LINEAR_SINCE = "0006"


def test_a_database_upgraded_to_head_matches_the_models(database_url: str) -> None:
    """`database_url` is a fresh database on which conftest ran `alembic upgrade head`."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": True})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == [], "models and migrations differ; add a revision (alembic revision --autogenerate) for:\n" + \
        "\n".join(map(str, diff))


def test_the_history_is_one_line_with_one_head() -> None:
    scripts = ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))
    assert len(scripts.get_heads()) == 1, f"several heads {scripts.get_heads()}: chain the new revision instead"
    for revision in scripts.iterate_revisions(scripts.get_current_head(), LINEAR_SINCE):
        if revision.revision == LINEAR_SINCE:
            break
        assert isinstance(revision.down_revision, str), f"{revision.revision} merges {revision.down_revision}"
        assert not scripts.get_revision(revision.down_revision).is_branch_point, (
            f"{revision.down_revision} has several children: history after {LINEAR_SINCE} must be a line")
