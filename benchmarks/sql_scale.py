"""SQL at scale: the store's lookup, matches and coordination queries on 10^5 videos in SQLite.

Fills a temporary SQLite database (the models' schema) with synthetic rows: `--videos` videos
of `--frames` frames each, 1.5 uploads per video spread over 2,000 accounts and a year, and two
matches per video. Then runs the queries the commands run, through `vidtrace.store.repo`:

- lookup: frames by id list (`frame_columns`), frames of one video (`frames_of_video`),
  uploads of the matched videos (`uploads_of_videos`);
- matches: stored matches by score (`list_matches`);
- coordination: uploads joined with accounts ordered by time (`dated_uploads`), uploads of one
  account in a time window, match links (`match_links`);

and prints each statement's SQLite query plan (EXPLAIN QUERY PLAN) and its median time, first
with the schema as the models define it, then with the indexes proposed in `PROPOSED_INDEXES`.

    python benchmarks/sql_scale.py              # 10^5 videos, 3 million frames (about 2 minutes)
    python benchmarks/sql_scale.py --quick      # 10^4 videos
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.orm import Session

# The vidtrace of this checkout, whatever the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidtrace.store import repo
from vidtrace.store.models import Account, Base, Frame, Match, Scan, Upload, Video

#: Indexes the queries below need beyond those the models declare (name, table, columns).
PROPOSED_INDEXES = [
    ("ix_frames_video_id_ts_s", "frames", "video_id, ts_s"),
    ("ix_matches_score", "matches", "score"),
    ("ix_uploads_uploaded_at", "uploads", "uploaded_at"),
    ("ix_uploads_account_id_uploaded_at", "uploads", "account_id, uploaded_at"),
]
ACCOUNTS = 2_000
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def fill(engine, n_videos: int, frames_per_video: int, seed: int) -> None:
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Scan),
            [dict(kind="ingest", roots=[], started_at=now, status="ok", counts={})],
        )
        conn.execute(
            insert(Account),
            [dict(platform="", handle=f"account{i}") for i in range(ACCOUNTS)],
        )
        conn.execute(
            insert(Video),
            [dict(sha256=f"{i:064x}", size_bytes=1_000_000, duration_s=frames_per_video / 2, status="ok",
                  algorithm="phash64", algorithm_version=1, sampled_frames=frames_per_video, created_at=now,
                  matched_at=now) for i in range(1, n_videos + 1)],
        )  # fmt: skip
        step = max(1, 200_000 // frames_per_video)
        for start in range(1, n_videos + 1, step):
            conn.execute(
                insert(Frame),
                [dict(video_id=v, ts_s=k / 2, hash=rng.getrandbits(64).to_bytes(8, "big"), quality=40.0)
                 for v in range(start, min(n_videos + 1, start + step)) for k in range(frames_per_video)],
            )  # fmt: skip
        uploads = []
        for v in range(1, n_videos + 1):
            for copy in range(1 + (v % 2)):
                uploads.append(dict(
                    video_id=v, account_id=rng.randrange(1, ACCOUNTS + 1), path=f"/data/{v}/{copy}.mp4",
                    uploaded_at=EPOCH + dt.timedelta(seconds=rng.randrange(365 * 86400)), uploaded_at_source="manifest",
                    file_size=1_000_000, file_mtime_ns=0, first_seen_scan=1,
                ))  # fmt: skip
        conn.execute(insert(Upload), uploads)
        pairs = {tuple(sorted(rng.sample(range(1, n_videos + 1), 2))) for _ in range(2 * n_videos)}
        conn.execute(
            insert(Match),
            [dict(video_a_id=a, video_b_id=b, score=rng.random(), matched_s=10.0, algorithm="phash64",
                  algorithm_version=1, created_at=now) for a, b in pairs],
        )  # fmt: skip
        conn.exec_driver_sql("ANALYZE")


def workload(session: Session, n_videos: int, frames_per_video: int, rng: random.Random):
    """(name, callable) for each query the commands run."""
    n_frames = n_videos * frames_per_video
    frame_ids = rng.sample(range(1, n_frames + 1), 600)
    video = rng.randrange(1, n_videos + 1)
    matched = rng.sample(range(1, n_videos + 1), 50)
    account = rng.randrange(1, ACCOUNTS + 1)
    t0 = EPOCH + dt.timedelta(days=100)

    def account_window():
        return session.execute(
            select(Upload.id, Upload.video_id, Upload.uploaded_at)
            .where(
                Upload.account_id == account,
                Upload.uploaded_at >= t0,
                Upload.uploaded_at < t0 + dt.timedelta(days=7),
            )
            .order_by(Upload.uploaded_at)
        ).all()

    return [
        (
            "frames by id list (lookup: frame_columns)",
            lambda: repo.frame_columns(session, frame_ids),
        ),
        (
            "frames by video_id (frames_of_video)",
            lambda: repo.frames_of_video(session, video),
        ),
        (
            "uploads by video_id (uploads_of_videos)",
            lambda: repo.uploads_of_videos(session, matched),
        ),
        (
            "matches by score (list_matches, score >= 0.9)",
            lambda: repo.list_matches(session, min_score=0.9),
        ),
        (
            "uploads by time with accounts (dated_uploads)",
            lambda: repo.dated_uploads(session),
        ),
        ("uploads by account and uploaded_at (7-day window)", account_window),
        ("match links (match_links)", lambda: repo.match_links(session)),
    ]


def measure(engine, n_videos: int, frames_per_video: int, repeat: int) -> None:
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            for name, call in workload(session, n_videos, frames_per_video, random.Random(1)):
                times = []
                for _ in range(repeat):
                    statements.clear()
                    start = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - start)
                    session.expunge_all()
                seen = list(dict.fromkeys(s for s, _ in statements))
                params = dict(statements)
                print(f"\n-- {name}: median {1000 * statistics.median(times):.1f} ms over {repeat} runs")
                for sql in seen:
                    print("   " + " ".join(sql.split())[:160])
                    with engine.connect() as conn:
                        for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params[sql]):
                            print(f"     plan: {row[-1]}")
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10^4 videos")
    parser.add_argument("--videos", type=int, help="videos (default 100000, --quick 10000)")
    parser.add_argument("--frames", type=int, default=30, help="frames per video (default 30)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    n_videos = args.videos or (10_000 if args.quick else 100_000)

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'scale.db'}")
        Base.metadata.create_all(engine)
        start = time.perf_counter()
        fill(engine, n_videos, args.frames, seed=3)
        with engine.connect() as conn:
            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("videos", "frames", "uploads", "matches")
            }
        size_mb = (Path(tmp) / "scale.db").stat().st_size / 1e6
        print(f"filled in {time.perf_counter() - start:.0f} s: {counts}; {size_mb:.0f} MB")

        print("\n== schema as the models declare it")
        measure(engine, n_videos, args.frames, args.repeat)

        with engine.begin() as conn:
            for name, table, columns in PROPOSED_INDEXES:
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
            conn.exec_driver_sql("ANALYZE")
        print("\n== with the proposed indexes: " + ", ".join(f"{t}({c})" for _, t, c in PROPOSED_INDEXES))
        measure(engine, n_videos, args.frames, args.repeat)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
