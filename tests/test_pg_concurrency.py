"""Several writers on one PostgreSQL store at once.

- Two `vidtrace ingest` processes of overlapping folders, forced to insert the same contents at
  the same moment, leave exactly the rows of one ingest of the union (compared with SQLite).
- Writers claiming videos to match (SKIP LOCKED) never take the same one, and the match order
  they agree on has no gap and no repeat.
- Two writers matching at once still match every pair exactly once.
- An ingest killed (SIGKILL) at random points on PostgreSQL: the rerun completes, nothing is
  duplicated or lost.

All of them need a server: `eval "$(bash .ci/postgres.sh)"` sets VIDTRACE_TEST_PG_URL.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from conftest import ROOT, fixture_clip, run
from test_cli import TOLERANCE_S
from test_crash import Runner
from vidtrace import scan
from vidtrace.index import FrameIndex
from vidtrace.index.sync import synced_index
from vidtrace.settings import Settings
from vidtrace.store import db, repo
from vidtrace.store.models import Account, Frame, Match, Segment, Upload, Video

#: Bounds every wait for another process (a hang guard, not a timing assertion).
HANG_GUARD_S = 600


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture
def pg_databases(pg_url):
    """A factory of further fresh, empty databases on the same server (dropped afterwards)."""
    admin_url = os.environ["VIDTRACE_TEST_PG_URL"]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = []

    def new() -> str:
        name = f"vidtrace_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield new
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def sqlite_url(store: Path) -> str:
    return f"sqlite:///{store / db.DB_FILENAME}"


def migrated(url: str) -> None:
    engine = db.make_engine(db.StoreLocation.resolve(db_url=url))
    db.upgrade(engine)
    engine.dispose()


# --- comparing stores by content (ids differ between runs) -------------------------------------


def snapshot(url: str) -> dict[str, list]:
    """Every row that matters, keyed by content; matches as unordered pairs of SHA-256s."""
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            sha = dict(s.execute(select(Video.id, Video.sha256)).all())
            handle = dict(s.execute(select(Account.id, Account.handle)).all())
            out = {
                "videos": sorted(
                    s.execute(
                        select(Video.sha256, Video.status, Video.sampled_frames, Video.matched_at.is_not(None))
                    ).all()
                ),
                "accounts": sorted(s.execute(select(Account.platform, Account.handle)).all()),
                "uploads": sorted(
                    (sha[u.video_id], u.path, handle.get(u.account_id), u.uploaded_at_source, u.gone_at is not None)
                    for u in s.scalars(select(Upload))
                ),
                "frames": sorted((sha[f.video_id], f.ts_s, f.hash.hex(), f.region) for f in s.scalars(select(Frame))),
            }
            segments: dict[int, list] = {}
            for g in s.scalars(select(Segment).order_by(Segment.a_start_s)):
                segments.setdefault(g.match_id, []).append((g.a_start_s, g.a_end_s, g.b_start_s, g.b_end_s))
            matches = {}
            for m in s.scalars(select(Match)):
                a, b, segs = sha[m.video_a_id], sha[m.video_b_id], segments.get(m.id, [])
                if a > b:  # orient by content, not by id
                    a, b, segs = b, a, [(bs, be, as_, ae) for as_, ae, bs, be in segs]
                matches[(a, b)] = (m.score, sorted(segs))
            out["matches"] = matches
            out["match_orders"] = sorted(o for (o,) in s.execute(select(Video.match_order)) if o is not None)
            return out
    finally:
        engine.dispose()


def assert_same_content(got: dict, want: dict) -> None:
    for table in ("videos", "accounts", "uploads", "frames"):
        assert got[table] == want[table], table
    assert set(got["matches"]) == set(want["matches"])
    for pair, (_, segments) in want["matches"].items():  # scores follow from the segments, compared within tolerance
        _, got_segments = got["matches"][pair]
        assert len(got_segments) == len(segments), pair
        for g, w in zip(got_segments, segments):
            assert all(abs(x - y) <= TOLERANCE_S for x, y in zip(g, w)), (pair, got_segments, segments)
    assert got["match_orders"] == list(range(1, len(got["match_orders"]) + 1))  # no gap, no repeat


def consistency_problems(url: str) -> list[str]:
    """What makes a store half-written (the checks of test_crash, in SQL both databases speak)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.dialect.has_table(conn, "alembic_version"):
                return []
            checks = {
                "frames of an unfinished or failed video": "SELECT count(*) FROM frames f LEFT JOIN videos v ON v.id = f.video_id WHERE v.id IS NULL OR v.status != 'ok'",
                "finished video without frames": "SELECT count(*) FROM videos v WHERE v.status = 'ok' AND NOT EXISTS (SELECT 1 FROM frames f WHERE f.video_id = v.id)",
                "video without upload": "SELECT count(*) FROM videos v WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.video_id = v.id)",
                "match without segments": "SELECT count(*) FROM matches m WHERE NOT EXISTS (SELECT 1 FROM segments s WHERE s.match_id = m.id)",
                "match of a video not marked matched": "SELECT count(*) FROM matches m JOIN videos v ON v.id IN (m.video_a_id, m.video_b_id) WHERE v.matched_at IS NULL",
                "matched video without a match order": "SELECT count(*) FROM videos WHERE (matched_at IS NULL) != (match_order IS NULL)",
            }
            return [f"{name}: {n}" for name, sql in checks.items() if (n := conn.execute(text(sql)).scalar())]
    finally:
        engine.dispose()


def index_covers_sql(store: Path, url: str, others_wrote_after: bool = False) -> None:
    """The saved index holds exactly SQL's frames; or, when other writers went on storing after
    this store's run saved it, none that SQL lacks, and it is brought up to date when opened."""
    loaded = FrameIndex.load(store / db.INDEX_FILENAME)
    assert loaded is not None, "index file missing or unreadable after a completed run"
    engine = create_engine(url)
    with engine.connect() as conn:
        sql_ids = sorted(conn.execute(select(Frame.id)).scalars())
    engine.dispose()
    saved = sorted(loaded[0].ids().tolist())
    if not others_wrote_after:
        assert saved == sql_ids
        return
    assert set(saved) <= set(sql_ids)
    opened = db.Store.open(db.StoreLocation.resolve(store, db_url=url), create=False)
    try:
        assert sorted(synced_index(opened, save=False).ids().tolist()) == sql_ids
    finally:
        opened.close()


# --- two ingests of overlapping folders at once -------------------------------------------------


def _tree(root: Path) -> dict[str, Path]:
    """Three folders; r2 is ingested by both writers. The same content sits under several
    accounts and folders, and one file has no account (a NULL in the uploads' unique key)."""
    layout = {
        "r1/alice": ["orig_a.mp4", "unrelated_c.mp4"],
        "r2/bob": ["a_trimmed.mp4", "compilation.mp4"],
        "r2/carol": ["orig_a.mp4"],
        "r3/dave": ["a_reencoded.mp4", "orig_b.mp4"],
    }
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(fixture_clip(name), root / folder / name)
    shutil.copy(fixture_clip("orig_b.mp4"), root / "r2" / "loose.mp4")
    return {name: root / name for name in ("r1", "r2", "r3")}


def _cli(store: Path, url: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "--store", str(store), "--db", url, "--quiet", *map(str, args), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _waiting_on_locks(conn) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    try:
        return conn.execute(text(query)).scalar()
    finally:
        conn.rollback()  # the statistics views keep one snapshot per transaction


@pytest.mark.parametrize("stores", ["one store folder", "a store folder each"])
def test_two_ingests_of_overlapping_folders_at_once_store_what_one_ingest_of_the_union_stores(
    pg_url, tmp_path, stores, capsys
):
    roots = _tree(tmp_path / "videos")
    reference = tmp_path / "reference"
    assert run(reference, "ingest", roots["r1"], roots["r2"], roots["r3"]).exit_code == 0
    want = snapshot(sqlite_url(reference))
    assert len(want["videos"]) == 6 and len(want["uploads"]) == 8 and len(want["matches"]) == 7

    migrated(pg_url)
    store_a = tmp_path / "store-a"
    store_b = store_a if stores == "one store folder" else tmp_path / "store-b"
    # Hold every insert into `videos` until both writers have fingerprinted their new contents
    # and wait to store them: both then store the same contents (r2's) at the same moment.
    gate = create_engine(pg_url)
    with gate.connect() as conn:
        conn.execute(text("LOCK TABLE videos IN EXCLUSIVE MODE"))
        first = _cli(store_a, pg_url, "ingest", roots["r1"], roots["r2"])
        second = _cli(store_b, pg_url, "ingest", roots["r3"], roots["r2"])  # r2 in the other order
        deadline = time.monotonic() + HANG_GUARD_S
        with gate.connect() as watcher:
            while _waiting_on_locks(watcher) < 2:
                assert first.poll() is None and second.poll() is None, (first.communicate(), second.communicate())
                assert time.monotonic() < deadline, "writers never reached the videos table"
                time.sleep(0.2)
        conn.commit()  # open the gate
    gate.dispose()
    outputs = [p.communicate(timeout=HANG_GUARD_S) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs

    got = snapshot(pg_url)
    assert_same_content(got, want)
    # Each writer saves its index when it ends; the other may store frames after that.
    for store in {store_a, store_b}:
        index_covers_sql(store, pg_url, others_wrote_after=True)
    import json

    counts = [json.loads(out)["counts"] for out, _ in outputs]
    with capsys.disabled():
        print(
            f"\nconcurrent ingests ({stores}): writer 1 stored {counts[0]['new_videos']} videos, "
            f"{counts[0]['new_uploads']} uploads, {counts[0]['new_matches']} matches; writer 2 stored "
            f"{counts[1]['new_videos']} videos, {counts[1]['new_uploads']} uploads, {counts[1]['new_matches']} matches; "
            f"together {len(got['videos'])} videos, {len(got['uploads'])} uploads, {len(got['matches'])} matches "
            "(one ingest of the union: the same)",
            file=sys.stderr,
        )
    assert sum(c["new_videos"] for c in counts) == 6
    assert sum(c["new_uploads"] for c in counts) == 8
    assert sum(c["new_matches"] for c in counts) == 7


# --- claiming videos to match --------------------------------------------------------------------


def _seed_unmatched(url: str, count: int) -> list[int]:
    migrated(url)
    engine = create_engine(url)
    now = repo.utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(Video),
            [
                dict(
                    sha256=f"{n:064x}",
                    size_bytes=1,
                    status="ok",
                    algorithm="t",
                    algorithm_version=1,
                    sampled_frames=0,
                    created_at=now,
                )
                for n in range(count)
            ],
        )
        ids = sorted(conn.execute(select(Video.id)).scalars())
    engine.dispose()
    return ids


def test_claims_skip_videos_other_writers_hold(pg_url):
    ids = _seed_unmatched(pg_url, 5)
    engine = create_engine(pg_url)
    sessions = [Session(engine) for _ in range(3)]
    try:
        claimed = [repo.claim_video_to_match(s) for s in sessions]
        assert claimed == ids[:3]  # each skips the rows the others hold
        sessions[0].rollback()  # gave up without matching: the video is free again
        with Session(engine) as probe:  # closed at once: its claim must not outlive it
            assert repo.claim_video_to_match(probe) == ids[0]
        repo.lock_match_order(sessions[1])
        assert repo.mark_matched(sessions[1], claimed[1]) == 1
        sessions[1].commit()
        with Session(engine) as other:
            assert repo.claim_video_to_match(other) == ids[0]
            assert repo.count_videos_to_match(other) == 4
    finally:
        for s in sessions:
            s.close()
        engine.dispose()


def _claimer(url: str, out) -> None:
    """Runs in its own process: claim, take a match order, commit, until nothing is left."""
    engine = create_engine(url)
    taken = []
    with Session(engine) as session:
        while (video_id := repo.claim_video_to_match(session)) is not None:
            repo.lock_match_order(session)
            taken.append((video_id, repo.mark_matched(session, video_id)))
            session.commit()
    engine.dispose()
    out.put(taken)


def test_writers_claiming_at_once_never_take_the_same_video(pg_url):
    ids = _seed_unmatched(pg_url, 60)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_claimer, args=(pg_url, out)) for _ in range(3)]
    for w in workers:
        w.start()
    taken = [out.get(timeout=HANG_GUARD_S) for _ in workers]
    for w in workers:
        w.join(HANG_GUARD_S)
        assert w.exitcode == 0
    every = [video_id for t in taken for video_id, _ in t]
    assert Counter(every).most_common(1)[0][1] == 1 and sorted(every) == ids
    assert sorted(order for t in taken for _, order in t) == list(range(1, 61))


# --- matching at once ----------------------------------------------------------------------------


def test_two_writers_matching_at_once_match_every_pair_exactly_once(pg_url, tmp_path, monkeypatch):
    """Both writers search their video before either takes its place in the match order, so
    neither sees the other's video as matched: the serialised last step must catch it."""
    root = tmp_path / "videos"
    (root / "alice").mkdir(parents=True)
    for name in ("orig_a.mp4", "a_trimmed.mp4", "a_reencoded.mp4", "compilation.mp4"):
        shutil.copy(fixture_clip(name), root / "alice" / name)
    store = tmp_path / "store"
    assert run(store, "ingest", root, db_url=pg_url).exit_code == 0
    want = snapshot(pg_url)
    assert len(want["matches"]) == 6
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # forget the matching; keep videos and frames
        conn.execute(delete(Segment))
        conn.execute(delete(Match))
        conn.execute(update(Video).values(matched_at=None, match_order=None))
    engine.dispose()

    barrier = threading.Barrier(2, timeout=HANG_GUARD_S)
    real_lock = repo.lock_match_order
    first_call = threading.local()

    def lock_after_both_searched(session):
        if not getattr(first_call, "done", False):
            first_call.done = True
            barrier.wait()
        real_lock(session)

    monkeypatch.setattr(repo, "lock_match_order", lock_after_both_searched)
    location = db.StoreLocation.resolve(store, pg_url)
    found: list[list[int]] = [[], []]
    errors = []

    def writer(n: int) -> None:
        try:
            opened = db.Store.open(location, create=False)
            try:
                index = synced_index(opened, save=False)
                with opened.session() as session:
                    found[n] = scan.match_unmatched(session, index, Settings(), None)
            finally:
                opened.close()
        except BaseException as e:
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD_S)
    assert not errors, errors
    assert found[0] and found[1]  # both matched videos
    assert len(found[0]) + len(found[1]) == 6
    assert_same_content(snapshot(pg_url), want)


# --- killed mid-way -------------------------------------------------------------------------------

SEED = int(os.environ.get("CRASH_SEED", "20260301"))
CHAINS = 2
KILLS_PER_CHAIN = 4


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    r = Runner(tmp_path_factory.mktemp("pg-crash-log") / "stderr.txt")
    yield r
    r.close()


def test_ingest_killed_anywhere_on_postgres_resumes_without_loss_or_duplicates(runner, pg_databases, tmp_path, capsys):
    rng = random.Random(SEED)
    tree = tmp_path / "videos"
    (tree / "alice").mkdir(parents=True)
    for name in ("orig_a.mp4", "unrelated_c.mp4", "a_trimmed.mp4", "compilation.mp4"):
        shutil.copy(fixture_clip(name), tree / "alice" / name)
    args = ["--quiet", "ingest", str(tree)]

    reference = tmp_path / "reference"
    code, full_s = runner.run(["--store", str(reference), *args])
    assert code == 0
    want = snapshot(sqlite_url(reference))

    kills = interrupted = 0
    for chain in range(CHAINS):
        url = pg_databases()
        store = tmp_path / f"store-{chain}"
        for _ in range(KILLS_PER_CHAIN):
            code, _ = runner.run(["--store", str(store), "--db", url, *args], kill_after_s=rng.uniform(0.05, full_s))
            kills += 1
            assert consistency_problems(url) == [], chain
            interrupted += code == -signal.SIGKILL
        code, _ = runner.run(["--store", str(store), "--db", url, *args])
        assert code == 0, runner.log.read_text()[-3000:]
        assert consistency_problems(url) == []
        index_covers_sql(store, url)
        assert_same_content(snapshot(url), want)
    with capsys.disabled():
        print(
            f"\npostgres crash safety: {kills} SIGKILL points ({interrupted} killed a running ingest), then equal to an uninterrupted run",
            file=sys.stderr,
        )
