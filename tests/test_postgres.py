"""The same store on PostgreSQL: migrations, ingest, a second ingest, rescan and lookup."""

from __future__ import annotations

import json
import shutil

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select

from conftest import MANIFEST, fixture_clip, run
from test_cli import EXPECTED, assert_segments_close, found_pairs
from vidtrace.store import db
from vidtrace.store.models import Base, Frame, Match, Upload, Video


def test_migrations_on_postgres_match_the_models_and_downgrade(pg_url, tmp_path):
    engine = db.make_engine(db.StoreLocation.resolve(tmp_path / "store", pg_url))
    db.upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def _counts(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = {m.__tablename__: conn.scalar(select(func.count()).select_from(m)) for m in (Video, Upload, Frame, Match)}
    engine.dispose()
    return out


def test_ingest_rescan_and_lookup_on_postgres(pg_url, tmp_path):
    store = tmp_path / "store"
    first = run(store, "ingest", "--manifest", MANIFEST, db_url=pg_url)
    assert first.exit_code == 0, first.stderr
    assert not (store / db.DB_FILENAME).exists()  # SQL went to PostgreSQL; the store holds the index
    pairs = found_pairs(json.loads(run(store, "matches", "--json", db_url=pg_url).stdout))
    assert set(pairs) == set(EXPECTED)
    for key, segments in EXPECTED.items():
        assert_segments_close(pairs[key], segments)

    before = _counts(pg_url)
    again = json.loads(run(store, "ingest", "--manifest", MANIFEST, "--json", db_url=pg_url).stdout)["counts"]
    assert again["new_videos"] == again["new_uploads"] == 0 and _counts(pg_url) == before

    looked = run(store, "lookup", fixture_clip("a_trimmed.mp4"), "--json", db_url=pg_url)
    assert looked.exit_code == 0 and _counts(pg_url) == before
    assert len(json.loads(looked.stdout)["matches"]) == 4

    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(fixture_clip("a_trimmed.mp4"), root / "copy.mp4")
    shutil.copy(fixture_clip("unrelated_c.mp4"), root / "c.mp4")
    assert run(store, "ingest", root.parent, db_url=pg_url).exit_code == 0
    (root / "c.mp4").unlink()
    rescan = json.loads(run(store, "rescan", "--json", db_url=pg_url).stdout)["counts"]
    assert rescan["gone_uploads"] == 1 and rescan["new_videos"] == 0


def test_the_store_folder_lock_does_not_hold_back_writers_of_a_server_database(pg_url, tmp_path):
    # SQLite admits one writer, so the folder's lock makes a second one wait its turn (exit 3);
    # PostgreSQL admits many (on this machine or others), so an ingest runs while the lock is held.
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(fixture_clip("unrelated_c.mp4"), root / "c.mp4")
    store = tmp_path / "store"
    with db.writer_lock(db.StoreLocation.resolve(store, pg_url)):
        result = run(store, "ingest", root.parent, db_url=pg_url)
    assert result.exit_code == 0, result.stderr
    assert _counts(pg_url)["videos"] == 1
