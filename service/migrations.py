"""The schema, through alembic only: upgrade, downgrade, and what revision a database is at."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache

from alembic import command, op
from alembic.config import Config
from alembic.script import ScriptDirectory


def execute(statements: Sequence[str]) -> None:
    """Run a migration's statements in order (the migrations here are lists of plain SQL)."""
    for statement in statements:
        op.execute(statement)


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration, made here rather than read from alembic.ini: an installed
    wheel has no checkout around it, and its migrations are the package dateline_migrations
    (the checkout's alembic/ folder, under another name; see pyproject.toml)."""
    config = Config()
    config.set_main_option("script_location", _scripts())
    config.attributes["database_url"] = database_url
    return config


@cache
def _scripts() -> str:
    spec = importlib.util.find_spec("dateline_migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations are not installed: reinstall dateline")
    return str(next(iter(spec.submodule_search_locations)))


def upgrade(database_url: str, revision: str = "head") -> None:
    """Run from synchronous code only: alembic's env runs its own event loop."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


def all_revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]
