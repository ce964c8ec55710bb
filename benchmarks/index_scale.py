"""Index scale benchmark: exact flat search against multi-index hashing, up to 10^7 frame hashes.

For each store size it makes uniformly random 64-bit frame hashes with planted near-duplicate
families (a root hash and 2 to 8 copies of it, each copy 0 to 5 bits away from the root, so two
copies are up to 10 bits apart: the match radius), builds the index kinds through
`vidtrace.index.FrameIndex` (flat, multihash) and `vidtrace.index.ShardedIndex` (`sharded`:
`--shards` shards by video id modulo N, 240 frames a video, each shard flat or multihash by its
own size, as `vidtrace index build --shards N` makes them) and, with `--ivf`, FAISS
`IndexBinaryIVF` for comparison (trained on a sample, `--nprobe` cells probed), and prints, per kind:

- build time and memory (bytes held by the index, also as a multiple of the raw 8-byte hashes,
  and the growth of the process's resident memory while building);
- search time of a 60-frame query (60 planted copies from different families, radius
  `MAX_DISTANCE_BITS`): p50 and p95 over the repeated queries;
- recall against exact flat search (all pairs within the radius, and those 8 to 10 bits apart),
  and the recall of the planted pairs alone;
- for multihash, one search of `BATCH_ROWS` query rows at once, as ingest, rescan and import
  search many new videos' pictures together: in blocks of `MULTIHASH_QUERY_BLOCK` queries and, as
  the baseline, in one block (best of `BATCH_REPEATS`, alternating; the hits must be the same).

    python benchmarks/index_scale.py            # 10^5, 10^6, 10^7 (a few minutes on 2 cores)
    python benchmarks/index_scale.py --quick    # 10^5, 10^6
    python benchmarks/index_scale.py --sizes 100000 3000000 --queries 50
    python benchmarks/index_scale.py --sizes 1000000 --ivf --nprobe 64
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

# The vidtrace of this checkout, whatever the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidtrace import settings as defaults
from vidtrace.index import (
    FLAT,
    MULTIHASH,
    MULTIHASH_FROM_FRAMES,
    SHARDED,
    FrameIndex,
    ShardedIndex,
    multihash,
    shard_of,
)

QUERY_FRAMES = 60
NBYTES = 8
#: Synthetic frames per video (about a minute at 4 hashes a second): decides the shard of a frame.
FRAMES_PER_VIDEO = 240
IVF = "ivf"
#: IVF cells: about 4 * sqrt(frames), the usual FAISS rule of thumb.
IVF_CELLS_PER_SQRT = 4
IVF_TRAIN_SAMPLE = 100_000
#: Query rows of the batched search (the pictures of a few new videos, as matching searches them).
BATCH_ROWS = 4096
BATCH_REPEATS = 3


class IvfIndex:
    """FAISS IndexBinaryIVF with the search interface the benchmark uses (comparison only)."""

    kind = IVF

    def __init__(self, ids: np.ndarray, codes: np.ndarray, nprobe: int):
        cells = int(IVF_CELLS_PER_SQRT * np.sqrt(len(ids)))
        self.index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(64), 64, cells)
        step = max(1, len(codes) // IVF_TRAIN_SAMPLE)
        self.index.train(codes[::step])
        self.index.add_with_ids(codes, ids)
        self.index.nprobe = nprobe
        self.cells = cells

    def nbytes(self) -> int:
        # inverted lists: an 8-byte code and an 8-byte id per frame; the quantizer's centroids
        return int(self.index.ntotal) * (NBYTES + 8) + self.cells * NBYTES

    def search_arrays(self, codes: np.ndarray, max_distance_bits: int):
        lims, distances, ids = self.index.range_search(codes, max_distance_bits + 1)
        rows = np.repeat(np.arange(len(codes)), np.diff(lims.astype(np.int64)))
        return rows, ids.astype(np.int64), distances.astype(np.int64)


def build_sharded(ids: np.ndarray, codes: np.ndarray, shards: int) -> ShardedIndex:
    """Shards built one after another from their own frames, as separate machines would."""
    video_ids = (ids - 1) // FRAMES_PER_VIDEO + 1
    which = shard_of(video_ids, shards)
    parts = []
    for k in range(shards):
        mine = which == k
        parts.append(FrameIndex.build(ids[mine], codes[mine]))
    return ShardedIndex(parts, [p.coverage("bench", 1) for p in parts])


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def flip_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with `counts[i]` distinct random bits flipped."""
    bits = np.unpackbits(rows, axis=1)
    order = rng.random(bits.shape).argsort(axis=1)
    flips = np.zeros(bits.shape, dtype=bool)
    np.put_along_axis(flips, order, np.arange(64)[None, :] < counts[:, None], axis=1)
    return np.packbits(bits ^ flips, axis=1)


def make_store(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, codes, planted positions, family of each planted position)."""
    codes = rng.integers(0, 256, size=(n, NBYTES), dtype=np.uint8)
    n_families = max(200, min(20_000, n // 200))
    sizes = rng.integers(2, 9, size=n_families)
    family = np.repeat(np.arange(n_families), sizes)
    roots = rng.integers(0, 256, size=(n_families, NBYTES), dtype=np.uint8)
    members = flip_bits(roots[family], rng.integers(0, 6, size=len(family)), rng)
    planted = rng.choice(n, size=len(family), replace=False)
    codes[planted] = members
    ids = np.arange(1, n + 1, dtype=np.int64)  # SQL frame ids: ascending from 1
    return ids, codes, planted, family


def timed_build(kind: str, ids: np.ndarray, codes: np.ndarray, args) -> tuple[FrameIndex, float, int]:
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    if kind == SHARDED:
        index = build_sharded(ids, codes, args.shards)
    elif kind == IVF:
        index = IvfIndex(ids, codes, args.nprobe)
    else:
        index = FrameIndex.build(ids, codes, kind=kind)
    seconds = time.perf_counter() - start
    return index, seconds, rss_bytes() - before


def pairs(index: FrameIndex, query: np.ndarray, radius: int) -> tuple[set, float, dict]:
    start = time.perf_counter()
    rows, ids, dists = index.search_arrays(query, radius)
    seconds = time.perf_counter() - start
    found = set(zip(rows.tolist(), ids.tolist()))
    return found, seconds, dict(zip(zip(rows.tolist(), ids.tolist()), dists.tolist()))


def batched(index: FrameIndex, query: np.ndarray, radius: int) -> dict:
    """Seconds of one search of all `query` rows in blocks of `MULTIHASH_QUERY_BLOCK` and in one
    block (the baseline), best of `BATCH_REPEATS` each, alternating."""
    block = multihash.MULTIHASH_QUERY_BLOCK
    times: dict[str, list[float]] = {"blocks": [], "one": []}
    results = {}
    try:
        for _ in range(BATCH_REPEATS):
            for name, size in (("blocks", block), ("one", len(query))):
                multihash.MULTIHASH_QUERY_BLOCK = size
                start = time.perf_counter()
                found = index.search_arrays(query, radius)
                times[name].append(time.perf_counter() - start)
                results[name] = found
    finally:
        multihash.MULTIHASH_QUERY_BLOCK = block
    same = all(np.array_equal(a, b) for a, b in zip(results["blocks"], results["one"]))
    return {"batch_s": min(times["blocks"]), "batch_one_s": min(times["one"]), "batch_same": same}


def bench_size(n: int, n_queries: int, seed: int, args) -> list[dict]:
    rng = np.random.default_rng(seed)
    radius = defaults.MAX_DISTANCE_BITS
    ids, codes, planted, family = make_store(n, rng)
    queries = []
    for _ in range(n_queries):
        picks = rng.choice(len(planted), size=QUERY_FRAMES, replace=False)
        queries.append(picks)
    family_of_id = dict(zip((planted + 1).tolist(), family.tolist()))

    out = []
    exact: list[tuple[set, dict]] = []
    kinds = [FLAT, MULTIHASH] + ([SHARDED] if args.shards else []) + ([IVF] if args.ivf else [])
    for kind in kinds:
        index, build_s, rss_growth = timed_build(kind, ids, codes, args)
        times, hit, total, hit_far, total_far, planted_hit, planted_total = (
            [],
            0,
            0,
            0,
            0,
            0,
            0,
        )
        for qn, picks in enumerate(queries):
            query = codes[planted[picks]]
            found, seconds, dists = pairs(index, query, radius)
            times.append(seconds)
            if kind == FLAT:
                exact.append((found, dists))
            truth, truth_d = exact[qn]
            hit += len(found & truth)
            total += len(truth)
            far = {p for p in truth if truth_d[p] >= radius - 2}
            hit_far += len(found & far)
            total_far += len(far)
            wanted = {(row, fid) for row, fid in truth if family_of_id.get(fid) == family[picks[row]]}
            planted_hit += len(found & wanted)
            planted_total += len(wanted)
        ms = sorted(1000 * t for t in times)
        batch = {}
        if index.kind == MULTIHASH:
            rows = np.concatenate([planted, rng.integers(0, n, BATCH_ROWS)])[:BATCH_ROWS]
            batch = batched(index, codes[rng.permutation(rows)], radius)
        out.append(
            {
                **batch,
                "n": n,
                "kind": kind,
                "build_s": build_s,
                "index_mb": index.nbytes() / 1e6,
                "raw_x": index.nbytes() / (n * NBYTES),
                "rss_mb": rss_growth / 1e6,
                "p50_ms": statistics.median(ms),
                "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
                "recall": hit / max(1, total),
                "recall_far": hit_far / max(1, total_far),
                "planted_recall": planted_hit / max(1, planted_total),
                "pairs": total,
            }
        )
        del index
        gc.collect()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10^5 and 10^6 only")
    parser.add_argument("--sizes", type=int, nargs="*", help="store sizes (frames)")
    parser.add_argument("--queries", type=int, default=40, help="60-frame queries per size (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shards", type=int, default=4, help="shards of the sharded kind (0: skip it; default 4)")
    parser.add_argument("--ivf", action="store_true", help="also FAISS IndexBinaryIVF, for comparison")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF cells probed per query (default 16)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10**5, 10**6] if args.quick else [10**5, 10**6, 10**7])

    print(f"radius {defaults.MAX_DISTANCE_BITS} bits of 64; {QUERY_FRAMES}-frame queries, {args.queries} per size; "
          f"vidtrace switches to multihash from {MULTIHASH_FROM_FRAMES:,} frames")  # fmt: skip
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    header = f"{'frames':>11} {'kind':<9} {'build_s':>8} {'index_MB':>9} {'x_raw':>6} {'rss_MB':>7} {'p50_ms':>8} {'p95_ms':>8} {'recall':>7} {'r@8-10':>7} {'planted':>8}"
    print(header)
    rows = []
    for n in sizes:
        for r in bench_size(n, args.queries, args.seed, args):
            rows.append(r)
            print(
                f"{r['n']:>11,} {r['kind']:<9} {r['build_s']:>8.2f} {r['index_mb']:>9.1f} {r['raw_x']:>6.2f} {r['rss_mb']:>7.0f} "
                f"{r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['recall']:>7.4f} {r['recall_far']:>7.4f} {r['planted_recall']:>8.4f}",
                flush=True,
            )
    by = {(r["n"], r["kind"]): r for r in rows}
    big = max(sizes)
    if (10**6, MULTIHASH) in by and (big, MULTIHASH) in by and big > 10**6:
        for kind in (FLAT, MULTIHASH):
            growth = by[(big, kind)]["p50_ms"] / by[(10**6, kind)]["p50_ms"]
            print(f"search p50 growth 10^6 -> {big:.0e} ({kind}): {growth:.1f}x for {big // 10**6}x the frames")
    sh = by.get((big, SHARDED))
    if sh:
        print(
            f"{args.shards} shards at {big:,}: p50 {sh['p50_ms']:.1f} ms, memory {sh['raw_x']:.2f}x raw, recall {sh['recall']:.4f}"
        )
    for r in rows:
        if "batch_s" in r:
            print(
                f"{r['n']:,} {r['kind']}: {BATCH_ROWS:,} query rows searched at once in {r['batch_s']:.2f} s in blocks of "
                f"{multihash.MULTIHASH_QUERY_BLOCK} ({r['batch_one_s']:.2f} s in one block, the baseline; "
                f"{r['batch_one_s'] / r['batch_s']:.2f}x); same hits: {'yes' if r['batch_same'] else 'NO'}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    mh = by.get((big, MULTIHASH))
    if mh and big >= 10**7:
        print("targets at 10^7: "
              f"p50 {mh['p50_ms']:.1f} ms (<= 50: {'met' if mh['p50_ms'] <= 50 else 'NOT met'}), "
              f"recall {mh['recall']:.4f} (exact, 1: {'met' if mh['recall'] == 1 else 'NOT met'}), "
              f"memory {mh['raw_x']:.2f}x raw (<= 4.5: {'met' if mh['raw_x'] <= 4.5 else 'NOT met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
