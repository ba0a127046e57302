"""Create the database if it is missing and apply every Alembic migration.

`python -m aiops_contracts.db.migrate [DATABASE_URL]` (default: DATABASE_URL from the settings).
"""

import sys
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from aiops_contracts.settings import CommonSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def create_database_if_missing(url: str) -> None:
    admin_dsn, name = _admin(url)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    admin_dsn, name = _admin(url)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(url: str) -> tuple[str, str]:
    """The DSN of the server's `postgres` database, and the database `url` names."""
    parsed = make_url(url)
    if not parsed.database:
        raise ValueError("the database URL names no database")
    return parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False), parsed.database


def upgrade(url: str) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    command.upgrade(config, "head")


if __name__ == "__main__":
    database_url = sys.argv[1] if len(sys.argv) > 1 else CommonSettings().database_url
    create_database_if_missing(database_url)
    upgrade(database_url)
