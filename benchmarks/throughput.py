"""Fingerprinting throughput against the decode-only limit, with 1 and 2 worker processes.

Takes real videos (the fixture clips, `../shared/videos/` when present, and any file or folder
given on the command line) and prints, for each configuration, video-seconds fingerprinted per
CPU-second (Python and ffmpeg together) and per wall-second, medians over `--repeat` runs:

- `fingerprint`: `vidtrace.fingerprint.fingerprint_file` on every file, in-process with
  `--workers 1`, and through a process pool of N workers (each ffmpeg on one thread, as `ingest
  --workers N` runs them);
- `decode-only`: the same ffmpeg command (same sampling, scaling and grey conversion) writing to
  a null output instead of a pipe: the physical limit of fingerprinting these frames;
- both again in the codec key-frame-only decode mode (`decode_mode = "keyframes"`), with its
  recall taken from `benchmarks/robustness.py` (`--recall` runs it, a few minutes per mode).

Also the peak resident memory of one worker (its Python process and its ffmpeg child).

    python benchmarks/throughput.py                   # about 2 minutes on 2 cores
    python benchmarks/throughput.py DIR --repeat 5 --recall
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from vidtrace.decode import (
    DECODE_ALL,
    DECODE_KEYFRAMES,
    ffmpeg_command,
    set_decode_threads,
)
from vidtrace.fingerprint import fingerprint_file
from vidtrace.settings import Settings

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
SHARED = PROJECT.parent / "shared" / "videos"
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


def find_videos(paths: list[str], use_defaults: bool) -> list[Path]:
    roots = (
        ([PROJECT / "fixtures" / "videos"] + ([SHARED] if SHARED.is_dir() else []))
        if use_defaults
        else []
    )
    roots += [Path(p) for p in paths]
    found: list[Path] = []
    for root in roots:
        files = (
            sorted(f for f in root.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS)
            if root.is_dir()
            else [root]
        )
        found += [f for f in files if f.is_file() and f.stat().st_size > 0]
    return found


def cpu_s() -> float:
    self_, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def null_command(path: Path, settings: Settings) -> list[str]:
    """The fingerprinting ffmpeg command with the frames sent to a null output (no showinfo)."""
    cmd = ffmpeg_command(path, settings)
    cmd[cmd.index("-loglevel") + 1] = "error"
    graph = cmd.index("-filter_complex") + 1
    cmd[graph] = cmd[graph].replace("[s2]showinfo[s3]", "[s2]null[s3]")
    out = cmd.index("pipe:")
    cmd[cmd.index("-f") + 1] = "null"
    cmd[out] = "-"
    return cmd


# --- jobs (run in worker processes) ---------------------------------------------------------


def _peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child (MiB)."""
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def fingerprint_job(
    path: str, settings: Settings
) -> tuple[float, int, tuple[float, float]]:
    fp = fingerprint_file(Path(path), settings)
    return fp.duration_s, fp.sampled_frames, _peak_rss_mb()


def decode_job(path: str, settings: Settings) -> tuple[float, int, tuple[float, float]]:
    subprocess.run(
        null_command(Path(path), settings), check=True, stdin=subprocess.DEVNULL
    )
    return 0.0, 0, _peak_rss_mb()


def run(job, files: list[Path], settings: Settings, workers: int) -> dict:
    """One pass over the files; CPU of this process and every child, wall time, peak RSS."""
    start_cpu, start = cpu_s(), time.perf_counter()
    results = []
    if workers == 1:
        results = [job(str(f), settings) for f in files]
    else:
        with concurrent.futures.ProcessPoolExecutor(
            workers, initializer=set_decode_threads, initargs=(1,)
        ) as pool:
            results = list(
                pool.map(job, [str(f) for f in files], [settings] * len(files))
            )
    wall = time.perf_counter() - start
    return dict(
        wall_s=wall, cpu_s=cpu_s() - start_cpu, video_s=sum(r[0] for r in results), frames=sum(r[1] for r in results),
        worker_rss_mb=max(r[2][0] for r in results), ffmpeg_rss_mb=max(r[2][1] for r in results),
    )  # fmt: skip


def robustness_recall(mode: str) -> float | None:
    """Pooled recall of benchmarks/robustness.py --quick with the given decode mode."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        env = {**os.environ, "VIDTRACE_DECODE_MODE": mode}
        done = subprocess.run([sys.executable, str(HERE / "robustness.py"), "--quick", "--json", str(out)], env=env,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0 or not out.exists():
            print(
                f"robustness benchmark failed for {mode}: {done.stderr[-400:]}",
                file=sys.stderr,
            )
            return None
        return json.loads(out.read_text())["ours"]["pooled_recall"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", help="more videos or folders of them")
    parser.add_argument(
        "--no-defaults", action="store_true", help="only the sources given"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="pool sizes to measure (default 1 2)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per configuration; medians are printed",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=2,
        help="each file is processed this many times per run",
    )
    parser.add_argument(
        "--recall",
        action="store_true",
        help="run benchmarks/robustness.py --quick for each decode mode",
    )
    args = parser.parse_args(argv)

    files = find_videos(args.sources, not args.no_defaults)
    if not files:
        print("no videos found", file=sys.stderr)
        return 1
    files = files * args.copies
    print(
        f"{len(files) // args.copies} files x {args.copies}; {os.cpu_count()} cores; medians of {args.repeat} runs"
    )
    header = f"{'mode':<10} {'stage':<12} {'workers':>7} {'video_s':>8} {'frames':>7} {'wall_s':>7} {'cpu_s':>7} {'vs/cpu_s':>9} {'vs/wall_s':>10} {'worker_MB':>10} {'ffmpeg_MB':>10}"
    print(header)
    table: dict[tuple[str, str, int], dict] = {}
    for mode in (DECODE_ALL, DECODE_KEYFRAMES):
        settings = replace(Settings.from_env(), decode_mode=mode)
        video_s = None
        for workers in args.workers:
            for stage, job in (
                ("fingerprint", fingerprint_job),
                ("decode-only", decode_job),
            ):
                runs = [run(job, files, settings, workers) for _ in range(args.repeat)]
                if stage == "fingerprint":
                    video_s = runs[0]["video_s"]
                m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                m["video_s"] = video_s
                m["frames"] = (
                    runs[0]["frames"]
                    if stage == "fingerprint"
                    else table[(mode, "fingerprint", workers)]["frames"]
                )
                m["per_cpu"], m["per_wall"] = (
                    video_s / m["cpu_s"],
                    video_s / m["wall_s"],
                )
                table[(mode, stage, workers)] = m
                rss = f"{m['worker_rss_mb']:>10.0f} {m['ffmpeg_rss_mb']:>10.0f}"
                print(f"{mode:<10} {stage:<12} {workers:>7} {video_s:>8.1f} {m['frames']:>7} {m['wall_s']:>7.2f} {m['cpu_s']:>7.2f} "
                      f"{m['per_cpu']:>9.1f} {m['per_wall']:>10.1f} {rss}", flush=True)  # fmt: skip

    print()
    for mode in (DECODE_ALL, DECODE_KEYFRAMES):
        for workers in args.workers:
            fp, dec = (
                table[(mode, "fingerprint", workers)],
                table[(mode, "decode-only", workers)],
            )
            print(f"{mode}: fingerprint / decode-only, {workers} worker(s): CPU {fp['cpu_s'] / dec['cpu_s']:.2f}x, "
                  f"wall {fp['wall_s'] / dec['wall_s']:.2f}x")  # fmt: skip
        if 1 in args.workers and 2 in args.workers:
            one, two = table[(mode, "fingerprint", 1)], table[(mode, "fingerprint", 2)]
            print(
                f"{mode}: 2 workers give {two['per_wall'] / one['per_wall']:.2f}x the fingerprint throughput of 1"
            )
    fast, full = (
        table[(DECODE_KEYFRAMES, "fingerprint", args.workers[0])],
        table[(DECODE_ALL, "fingerprint", args.workers[0])],
    )
    print(f"keyframes mode: {fast['per_cpu'] / full['per_cpu']:.1f}x the throughput per CPU-second, "
          f"{fast['frames']} frames instead of {full['frames']}")  # fmt: skip
    if args.recall:
        for mode in (DECODE_ALL, DECODE_KEYFRAMES):
            recall = robustness_recall(mode)
            print(
                f"robustness --quick pooled recall, decode mode {mode}: {recall if recall is None else f'{recall:.3f}'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
