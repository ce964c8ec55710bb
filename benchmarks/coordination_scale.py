"""Coordination at network scale: does `coordination` tell coordinated groups from chance?

Simulates a network investigation and runs `vidtrace coordination --json` on it end to end (a
subprocess through `cli.py`, on a real SQLite store), then scores the groups it prints against
the truth of the simulation.

The simulation, for N accounts (s = N / 10,000):

- `600 s` contents (at least 150), each with 1 + Poisson(1.5) videos (re-encodes of it: each
  video matches the next as a copy). Each content is released on a day drawn over the first 100
  of 120 days; its popularity is Zipf (weight 1 / rank), so a few contents are posted by
  thousands of accounts.
- `20 s` coordinated groups (at least 5) of 5 to 30 accounts. Each group bursts on 4 to 8
  contents: at a time drawn over the 120 days, each member posts the content (one of its
  videos) with probability 0.8, within 30 minutes of the burst's start.
- Every other account (an ordinary one) posts 3 to 15 distinct contents, chosen by popularity, on
  days drawn from the content's release plus an exponential delay (mean 10 days), at times of
  day drawn from a daily cycle (posting peaks in the evening at 1.8 times the mean rate, is
  lowest in the early morning at 0.2 times).
- `30 s` one-off viral bursts (at least 8): 5 to 40 ordinary accounts re-post one content within
  2 hours.

The store is filled directly through the project's models (accounts, videos, uploads with
manifest posting times, and the copy matches between a content's videos): the videos carry no
frames, since coordination reads only matches and uploads. Its fill time is printed as such.

Printed per size: the window and its source, how links were tested, account-pair precision,
recall and F1 (pairs of accounts put in one group against pairs in one true group), each true
group's best Jaccard among the groups found, ordinary accounts flagged, viral bursts with two or
more of their accounts in one group, the time to fill the store, the wall time of the
`coordination --json` command (wall and CPU: the machine may be shared), the time of the library
call it makes (`networks.snapshot`), and of the part of it that loads the uploads from SQL.

    python benchmarks/coordination_scale.py                      # 10^3 and 10^4 accounts
    python benchmarks/coordination_scale.py --accounts 100000 --no-library-call   # 10^5 (about 10 minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import insert

# The vidtrace of this checkout, whatever the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidtrace import networks
from vidtrace.store import db, repo
from vidtrace.store.models import Account, Match, Scan, Upload, Video

ROOT = Path(__file__).resolve().parent.parent
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY_S = 86400.0
DAYS = 120
RELEASE_DAYS = 100
MEAN_DELAY_DAYS = 10.0
GROUP_BURST_S = 30 * 60.0
VIRAL_BURST_S = 2 * 3600.0
MEMBER_POST_PROBABILITY = 0.8


@dataclass
class Simulation:
    accounts: list[str]
    videos_of_content: list[list[int]]  # content -> video ids (1-based)
    uploads: list[tuple[int, int, float]]  # (account index, video id, posting time s since EPOCH)
    groups: list[set[int]]  # true coordinated groups (account indices)
    bursts: list[set[int]]  # viral bursts (account indices)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day from a daily cycle: rate 1 + 0.8 cos(2 pi (h - 20) / 24)."""
    out = np.empty(0)
    while len(out) < n:
        h = rng.uniform(0, 24, 2 * n)
        keep = rng.uniform(0, 1.8, 2 * n) < 1 + 0.8 * np.cos(2 * np.pi * (h - 20) / 24)
        out = np.concatenate([out, h[keep] * 3600])
    return out[:n]


def simulate(n_accounts: int, seed: int) -> Simulation:
    rng = np.random.default_rng(seed)
    s = n_accounts / 10_000
    n_contents = max(150, round(600 * s))
    n_groups = max(5, round(20 * s))
    n_bursts = max(8, round(30 * s))
    videos_of_content, next_video = [], 1
    for _ in range(n_contents):
        k = 1 + rng.poisson(1.5)
        videos_of_content.append(list(range(next_video, next_video + k)))
        next_video += k
    popularity = 1.0 / np.arange(1, n_contents + 1)
    popularity /= popularity.sum()
    release_s = rng.uniform(0, RELEASE_DAYS * DAY_S, n_contents)
    order = rng.permutation(n_accounts)
    accounts = [f"acct{k:06d}" for k in range(n_accounts)]
    uploads: list[tuple[int, int, float]] = []

    def post(account: int, content: int, ts: float) -> None:
        uploads.append((account, int(rng.choice(videos_of_content[content])), float(ts)))

    groups, taken = [], 0
    for _ in range(n_groups):
        size = int(rng.integers(5, 31))
        members = [int(a) for a in order[taken : taken + size]]
        taken += size
        groups.append(set(members))
        for content in rng.choice(n_contents, int(rng.integers(4, 9)), replace=False):
            start = rng.uniform(0, DAYS * DAY_S - GROUP_BURST_S)
            for m in members:
                if rng.random() < MEMBER_POST_PROBABILITY:
                    post(m, int(content), start + rng.uniform(0, GROUP_BURST_S))
    ordinary = [int(a) for a in order[taken:]]
    for a in ordinary:
        n = int(rng.integers(3, 16))
        contents = rng.choice(n_contents, n, replace=False, p=popularity)
        days = np.floor((release_s[contents] + rng.exponential(MEAN_DELAY_DAYS * DAY_S, n)) / DAY_S)
        days = np.where(days < DAYS, days, rng.integers(0, DAYS, n))
        for c, day, tod in zip(contents, days, _time_of_day(rng, n), strict=True):
            post(a, int(c), day * DAY_S + tod)
    bursts = []
    for content in rng.choice(n_contents, n_bursts, replace=False):
        who = rng.choice(ordinary, int(rng.integers(5, 41)), replace=False)
        start = rng.uniform(0, DAYS * DAY_S - VIRAL_BURST_S)
        bursts.append({int(a) for a in who})
        for a in who:
            post(int(a), int(content), start + rng.uniform(0, VIRAL_BURST_S))
    return Simulation(accounts, videos_of_content, uploads, groups, bursts)


def fill_store(sim: Simulation, folder: Path, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    store = db.Store.open(db.StoreLocation.resolve(folder), create=True)
    now = dt.datetime.now(dt.UTC)
    n_videos = sum(len(v) for v in sim.videos_of_content)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                insert(Scan), [dict(kind="ingest", roots=[], started_at=now, finished_at=now, status="ok", counts={})]
            )
            conn.execute(insert(Account), [dict(platform="", handle=name) for name in sim.accounts])
            conn.execute(
                insert(Video),
                [dict(id=v, sha256=f"{v:064x}", size_bytes=1_000_000, duration_s=30.0, status="ok", algorithm="phash64",
                      algorithm_version=1, sampled_frames=0, created_at=now, matched_at=now, match_order=v)
                 for v in range(1, n_videos + 1)],
            )  # fmt: skip
            for start in range(0, len(sim.uploads), 50_000):
                conn.execute(
                    insert(Upload),
                    [dict(video_id=v, account_id=a + 1, path=f"/case/{sim.accounts[a]}/{n}.mp4",
                          uploaded_at=EPOCH + dt.timedelta(seconds=ts), uploaded_at_source="manifest",
                          file_size=1_000_000, file_mtime_ns=0, first_seen_scan=1)
                     for n, (a, v, ts) in enumerate(sim.uploads[start : start + 50_000], start=start)],
                )  # fmt: skip
            conn.execute(
                insert(Match),
                [dict(video_a_id=a, video_b_id=b, score=float(rng.uniform(0.85, 1.0)), matched_s=25.0, algorithm="phash64",
                      algorithm_version=1, scan_id=1, created_at=now, kind="copy", signals="pictures")
                 for videos in sim.videos_of_content for a, b in itertools.pairwise(videos)],
            )  # fmt: skip
    finally:
        store.close()


def _pairs(groups) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for a, b in itertools.combinations(sorted(g), 2)}


def score(sim: Simulation, found: list[set[int]]) -> dict:
    truth, got = _pairs(sim.groups), _pairs(found)
    hit = len(truth & got)
    precision = hit / len(got) if got else 1.0
    recall = hit / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    jaccard = [max((len(g & f) / len(g | f) for f in found), default=0.0) for g in sim.groups]
    in_groups = set().union(*sim.groups)
    flagged = set().union(*found) - in_groups if found else set()
    ordinary = len(sim.accounts) - len(in_groups)
    grouped = [max((len(b & f) for f in found), default=0) for b in sim.bursts]
    return {
        "pair_precision": round(precision, 4), "pair_recall": round(recall, 4), "pair_f1": round(f1, 4),
        "best_jaccard": [round(j, 3) for j in jaccard],
        "ordinary_flagged": len(flagged), "ordinary_accounts": ordinary, "ordinary_flagged_share": round(len(flagged) / ordinary, 5),
        "viral_bursts_grouped": sum(1 for n in grouped if n >= 2), "viral_bursts": len(sim.bursts),
        "most_burst_accounts_in_one_group": max(grouped, default=0),
    }  # fmt: skip


def run(n_accounts: int, seed: int, library_call: bool = True) -> dict:
    sim = simulate(n_accounts, seed)
    with tempfile.TemporaryDirectory(prefix="vidtrace-coord-") as tmp:
        folder = Path(tmp) / "store"
        start = time.perf_counter()
        fill_store(sim, folder, seed)
        fill_s = time.perf_counter() - start
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "--store", str(folder), "--quiet", "coordination", "--json"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        command_s = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        command_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        document = json.loads(done.stdout)
        load_s = library_s = float("nan")
        if library_call:
            store = db.Store.open(db.StoreLocation.resolve(folder), create=False)
            try:
                with store.session() as session:
                    start = time.perf_counter()
                    uploads = repo.dated_uploads(session)
                    load_s = time.perf_counter() - start
                    del uploads
                    start = time.perf_counter()
                    networks.snapshot(session)
                    library_s = time.perf_counter() - start
            finally:
                store.close()
    index = {name: k for k, name in enumerate(sim.accounts)}
    found = [{index[a] for a in g["accounts"]} for g in document["groups"]]
    return {
        "accounts": n_accounts, "uploads": len(sim.uploads), "contents": len(sim.videos_of_content),
        "videos": sum(len(v) for v in sim.videos_of_content), "groups": len(sim.groups),
        "window_s": document["window_s"], "window_source": document["window_source"],
        "link_test": document.get("link_test"), "groups_found": len(found),
        **score(sim, found),
        "fill_store_s": round(fill_s, 1), "coordination_command_s": round(command_s, 1),
        "coordination_library_s": round(library_s, 1), "coordination_command_cpu_s": round(command_cpu_s, 1),
        "load_uploads_s": round(load_s, 1),
        "chance": [(g["observed_coposts"], g["expected_coposts"]) for g in document["groups"][:5]],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--no-library-call", action="store_true", help="Time only the command (halves the run at 10^5)."
    )
    args = parser.parse_args()
    results = []
    for n in args.accounts:
        r = run(n, args.seed, library_call=not args.no_library_call)
        results.append(r)
        print(f"== {r['accounts']} accounts: {r['uploads']} uploads of {r['videos']} videos of {r['contents']} contents; "
              f"{r['groups']} coordinated groups, {r['viral_bursts']} viral bursts")  # fmt: skip
        print(f"window {r['window_s']:.0f} s ({r['window_source']})")
        if r["link_test"]:
            print(f"links: {r['link_test']['links_kept']} kept; {r['link_test']['rule']}")
        print(f"groups found {r['groups_found']}; pair precision {r['pair_precision']:.3f} recall {r['pair_recall']:.3f} "
              f"F1 {r['pair_f1']:.3f}")  # fmt: skip
        print(f"best Jaccard per group: min {min(r['best_jaccard']):.2f}, median {np.median(r['best_jaccard']):.2f}: "
              f"{' '.join(f'{j:.2f}' for j in r['best_jaccard'])}")  # fmt: skip
        print(f"ordinary accounts flagged {r['ordinary_flagged']} of {r['ordinary_accounts']} "
              f"({r['ordinary_flagged_share']:.3%}); viral bursts grouped {r['viral_bursts_grouped']} of {r['viral_bursts']} "
              f"(most accounts of one burst in one group: {r['most_burst_accounts_in_one_group']})")  # fmt: skip
        print(f"top groups, co-posts observed / expected by chance: {r['chance']}")
        library = (
            f"; its library call (networks.snapshot) {r['coordination_library_s']} s, of which loading the dated "
            f"uploads (repo.dated_uploads) about {r['load_uploads_s']} s"
            if not args.no_library_call else ""
        )  # fmt: skip
        print(f"fill store {r['fill_store_s']} s; coordination --json {r['coordination_command_s']} s wall, "
              f"{r['coordination_command_cpu_s']} s CPU{library}", flush=True)  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
