"""Fingerprinting throughput: local process pool versus a Dask cluster with 1 and 2 workers,
on SQLite and (when VIDTRACE_TEST_PG_URL names a server) PostgreSQL.

    python benchmarks/distributed_throughput.py [--copies N] [FOLDER...]

Sources: the fixtures, ../shared/videos/ when present, and any folder given. Each source is
re-muxed into N byte-distinct copies (same frames, different SHA-256) so that every file is
fingerprinted. Prints video-seconds fingerprinted per wall-second for each configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidtrace.scan import ingest  # noqa: E402
from vidtrace.settings import Settings  # noqa: E402
from vidtrace.store.db import Store, StoreLocation  # noqa: E402


def sources(extra: list[str]) -> list[Path]:
    folders = [ROOT / "fixtures" / "videos", ROOT.parent / "shared" / "videos", *map(Path, extra)]
    return sorted(p for f in folders if f.is_dir() for p in f.rglob("*.mp4"))


def make_copies(files: list[Path], copies: int, dest: Path) -> float:
    """Byte-distinct copies under dest/acct<k>/; returns their total duration in seconds."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    total = 0.0
    for k in range(copies):
        (dest / f"acct{k}").mkdir(parents=True)
        for f in files:
            out = dest / f"acct{k}" / f.name
            subprocess.run(
                [
                    ffmpeg,
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(f),
                    "-c",
                    "copy",
                    "-map",
                    "0:v:0",
                    "-metadata",
                    f"comment=copy {k}",
                    str(out),
                ],
                check=True,
            )
    for f in files:
        total += float(imageio_ffmpeg.count_frames_and_secs(str(f))[1]) * copies
    return total


def run(label: str, folder: Path, seconds: float, db_url: str | None, **kwargs) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(StoreLocation.resolve(Path(tmp) / "store", db_url), create=True)
        start = time.perf_counter()
        summary = ingest(store, [folder], settings=Settings(), **kwargs)
        wall = time.perf_counter() - start
        store.close()
    print(f"{label:<38} {summary.new_videos:>4} videos  {wall:7.1f} s  {seconds / wall:7.1f} video-s per wall-s")


def pg_database(admin_url: str):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"vidtrace_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from distributed import LocalCluster

    files = sources(args.folders)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        seconds = make_copies(files, args.copies, folder)
        print(f"{len(files) * args.copies} files, {seconds:.0f} video-seconds, {os.cpu_count()} cores")
        databases = [("SQLite", None)]
        if os.environ.get("VIDTRACE_TEST_PG_URL"):
            databases.append(("PostgreSQL", None))
        for db_label, _ in databases:
            url = pg_database(os.environ["VIDTRACE_TEST_PG_URL"]) if db_label == "PostgreSQL" else None
            run(f"{db_label}: local, 1 process", folder, seconds, url, workers=1)
            for n in (1, 2):
                with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                    url = pg_database(os.environ["VIDTRACE_TEST_PG_URL"]) if db_label == "PostgreSQL" else None
                    run(f"{db_label}: Dask, {n} worker(s)", folder, seconds, url, scheduler=cluster.scheduler_address)


if __name__ == "__main__":
    main()
