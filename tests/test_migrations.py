"""Alembic: an empty database upgraded to head has exactly the models' schema; downgrade works."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vidtrace.errors import UsageError
from vidtrace.store import db
from vidtrace.store.models import Base


def test_upgrade_head_matches_models_and_downgrade_base_empties(tmp_path):
    location = db.StoreLocation.resolve(tmp_path / "store")
    engine = db.make_engine(location)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}

    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert db.current_revision(engine) is None
    engine.dispose()


def test_open_creates_schema_and_refuses_unmigrated_read(tmp_path):
    location = db.StoreLocation.resolve(tmp_path / "fresh")
    with pytest.raises(UsageError, match="no store"):
        db.Store.open(location, create=False)
    store = db.Store.open(location, create=True)
    assert db.current_revision(store.engine) == db.head_revision()
    store.close()


def test_the_head_a_store_opens_at_without_alembic_is_alembics_head():
    # Stores at `HEAD_REVISION` open without loading Alembic: it must name the newest migration.
    assert db.HEAD_REVISION == db.head_revision()
