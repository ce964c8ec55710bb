"""Fingerprinting throughput against the decode-only limit, with 1 and 2 worker processes.

Takes real videos (the fixture clips, `../shared/videos/` when present, and any file or folder
given on the command line) and prints, for each configuration, video-seconds fingerprinted per
CPU-second (Python and ffmpeg together) and per wall-second, medians over `--repeat` runs:

- `fingerprint`: `vidtrace.fingerprint.fingerprint_file` on every file, in-process (as `ingest
  --workers 1` runs it: ffmpeg picks its own thread count), and through process pools of N
  workers (each ffmpeg on one decoder and one filter thread, as `ingest --workers N` runs them);
- `decode-only`: the same ffmpeg command (same sampling, scaling and grey conversion, same
  thread options and environment) without the per-frame time report, writing to a null output
  instead of a pipe: the physical limit of fingerprinting these frames;
- both again in the codec key-frame-only decode mode (`decode_mode = "keyframes"`), with its
  recall taken from `benchmarks/robustness.py` (`--recall` runs it, a few minutes per mode).

Also the peak resident memory of one worker (its Python process and its ffmpeg child), and the
load average before and after (CPU-time figures hold on a busy machine, wall-clock ones do not).

Files go to the workers longest first (by the decode work their headers announce: duration x
frame rate x frame size), one at a time, so that two workers finish together.

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

# The vidtrace of this checkout, whatever the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidtrace.decode import (
    _CHILD_ENV,
    DECODE_ALL,
    DECODE_KEYFRAMES,
    Decoding,
    decode,
    ffmpeg_command,
    set_decode_threads,
    times_reporting,
)
from vidtrace.errors import InputError
from vidtrace.fingerprint import fingerprint_file
from vidtrace.settings import Settings

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
SHARED = PROJECT.parent / "shared" / "videos"
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


def find_videos(paths: list[str], use_defaults: bool) -> list[Path]:
    roots = ([PROJECT / "fixtures" / "videos"] + ([SHARED] if SHARED.is_dir() else [])) if use_defaults else []
    roots += [Path(p) for p in paths]
    found: list[Path] = []
    for root in roots:
        files = sorted(f for f in root.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS) if root.is_dir() else [root]
        found += [f for f in files if f.is_file() and f.stat().st_size > 0]
    return found


def cpu_s() -> float:
    self_, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def null_command(path: Path, settings: Settings) -> list[str]:
    """The fingerprinting ffmpeg command without its per-frame time report, the frames sent to a
    null output."""
    cmd = ffmpeg_command(path, settings, times=None)
    cmd[cmd.index("-loglevel") + 1] = "error"
    cmd[cmd.index("-f") + 1] = "null"
    cmd[cmd.index("pipe:")] = "-"
    return cmd


def decode_work(path: Path, settings: Settings) -> float:
    """What the header announces: duration x frame rate x frame size (0 when unknown)."""
    state = Decoding(path)
    try:
        next(iter(decode(path, settings, state)), None)
    except InputError:
        return 0.0
    info = state.info
    return (info.duration_s or 0) * (info.fps or 0) * (info.width or 0) * (info.height or 0)


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- jobs (run in worker processes) ---------------------------------------------------------


def _peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child (MiB)."""
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def fingerprint_job(path: str, settings: Settings) -> tuple[float, int, tuple[float, float], int]:
    fp = fingerprint_file(Path(path), settings)
    return fp.duration_s, fp.sampled_frames, _peak_rss_mb(), len(fp.frames)


def decode_job(path: str, settings: Settings) -> tuple[float, int, tuple[float, float], int]:
    subprocess.run(
        null_command(Path(path), settings), check=True, stdin=subprocess.DEVNULL,
        env={**os.environ, **_CHILD_ENV},
    )  # fmt: skip
    return 0.0, 0, _peak_rss_mb(), 0


# --- the vPDQ reference (its own environment) ------------------------------------------------

#: Where the reference's interpreter is looked for: a separate venv with `pip install vpdq`
#: (it builds against Debian's libav*-dev packages). Never a dependency of vidtrace.
VPDQ_PYTHON = os.environ.get("VPDQ_PYTHON", "/tmp/vpdq-venv/bin/python")
_VPDQ_SCRIPT = """
import json, resource, sys
import vpdq
out = []
for path in sys.argv[1:]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    features = vpdq.computeHash(path, seconds_per_hash=0, thread_count=1)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    out.append({"path": path, "pictures": len(features), "cpu_s": cpu})
print(json.dumps(out))
"""


def vpdq_reference(files: list[Path], python: str) -> tuple[list[dict] | None, str]:
    """vPDQ (every frame hashed, one thread) on the files: per file its pictures and CPU seconds,
    or None and why it was skipped."""
    if not Path(python).exists():
        return (
            None,
            f"no interpreter at {python} (make one: python3 -m venv /tmp/vpdq-venv; /tmp/vpdq-venv/bin/pip install vpdq)",
        )
    probe = subprocess.run([python, "-c", "import vpdq"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"vpdq is not importable by {python}: {probe.stderr.strip().splitlines()[-1:]}"
    done = subprocess.run([python, "-c", _VPDQ_SCRIPT, *map(str, files)], capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"vpdq failed: {done.stderr.strip()[-300:]}"
    return json.loads(done.stdout), ""


#: Worker configurations: (label, worker count, ffmpeg threads; None lets ffmpeg choose).
IN_PROCESS = "in-proc"
POOL = "pool"


def run(job, files: list[Path], settings: Settings, workers: int, where: str) -> dict:
    """One pass over the files; CPU of this process and every child, wall time, peak RSS."""
    start_cpu, start = cpu_s(), time.perf_counter()
    results = []
    if where == IN_PROCESS:
        results = [job(str(f), settings) for f in files]
    else:
        # map hands out one file at a time, in order: with the files longest first, no worker
        # is left with a long file at the end while the other idles.
        with concurrent.futures.ProcessPoolExecutor(workers, initializer=set_decode_threads, initargs=(1,)) as pool:
            results = list(pool.map(job, [str(f) for f in files], [settings] * len(files), chunksize=1))
    wall = time.perf_counter() - start
    return dict(
        wall_s=wall, cpu_s=cpu_s() - start_cpu, video_s=sum(r[0] for r in results), frames=sum(r[1] for r in results),
        worker_rss_mb=max(r[2][0] for r in results), ffmpeg_rss_mb=max(r[2][1] for r in results),
        pictures=sum(r[3] for r in results),
    )  # fmt: skip


def robustness_recall(mode: str) -> float | None:
    """Pooled recall of benchmarks/robustness.py --quick (moving content) with the given decode mode."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        env = {**os.environ, "VIDTRACE_DECODE_MODE": mode}
        done = subprocess.run([sys.executable, str(HERE / "robustness.py"), "--quick", "--class", "moving", "--json", str(out)], env=env,
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
    parser.add_argument("--no-defaults", action="store_true", help="only the sources given")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="process pool sizes to measure besides the in-process run (default 1 2)",
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
        "--modes",
        nargs="*",
        default=[DECODE_ALL, DECODE_KEYFRAMES],
        choices=[DECODE_ALL, DECODE_KEYFRAMES],
        help="decode modes to measure (default both)",
    )
    parser.add_argument(
        "--recall",
        action="store_true",
        help="run benchmarks/robustness.py --quick for each decode mode",
    )
    parser.add_argument(
        "--vpdq-python",
        default=VPDQ_PYTHON,
        help=f"interpreter with vpdq installed (default {VPDQ_PYTHON}; env VPDQ_PYTHON)",
    )
    args = parser.parse_args(argv)

    files = find_videos(args.sources, not args.no_defaults)
    if not files:
        print("no videos found", file=sys.stderr)
        return 1
    base = Settings.from_env()
    work = {f: decode_work(f, base) for f in files}
    files = sorted(files * args.copies, key=lambda f: -work[f])
    configs = [(IN_PROCESS, 1)] + [(POOL, n) for n in args.workers]
    print(
        f"{len(files) // args.copies} files x {args.copies}; {os.cpu_count()} cores; medians of {args.repeat} runs; "
        f"frame times via {times_reporting(base)}; {load()}"
    )
    print("in-proc: one process, ffmpeg picks its threads; pool N: N worker processes, one ffmpeg thread each")
    header = f"{'mode':<10} {'stage':<12} {'workers':>9} {'video_s':>8} {'frames':>7} {'wall_s':>7} {'cpu_s':>7} {'vs/cpu_s':>9} {'vs/wall_s':>10} {'worker_MB':>10} {'ffmpeg_MB':>10}"
    print(header)
    table: dict[tuple[str, str, str, int], dict] = {}
    for mode in args.modes:
        settings = replace(base, decode_mode=mode)
        video_s = None
        for where, workers in configs:
            for stage, job in (
                ("fingerprint", fingerprint_job),
                ("decode-only", decode_job),
            ):
                runs = [run(job, files, settings, workers, where) for _ in range(args.repeat)]
                if stage == "fingerprint":
                    video_s = runs[0]["video_s"]
                m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                m["video_s"] = video_s
                m["frames"] = (
                    runs[0]["frames"]
                    if stage == "fingerprint"
                    else table[(mode, "fingerprint", where, workers)]["frames"]
                )
                m["per_cpu"], m["per_wall"] = (
                    video_s / m["cpu_s"],
                    video_s / m["wall_s"],
                )
                table[(mode, stage, where, workers)] = m
                rss = f"{m['worker_rss_mb']:>10.0f} {m['ffmpeg_rss_mb']:>10.0f}"
                label = f"{where} {workers}" if where == POOL else where
                print(f"{mode:<10} {stage:<12} {label:>9} {video_s:>8.1f} {m['frames']:>7} {m['wall_s']:>7.2f} {m['cpu_s']:>7.2f} "
                      f"{m['per_cpu']:>9.1f} {m['per_wall']:>10.1f} {rss}", flush=True)  # fmt: skip

    print()
    for mode in args.modes:
        for where, workers in configs:
            fp, dec = (
                table[(mode, "fingerprint", where, workers)],
                table[(mode, "decode-only", where, workers)],
            )
            label = f"{workers} worker(s)" if where == POOL else "in-process"
            print(f"{mode}: fingerprint / decode-only, {label}: CPU {fp['cpu_s'] / dec['cpu_s']:.2f}x "
                  f"({1000 * fp['cpu_s'] / fp['video_s']:.1f} vs {1000 * dec['cpu_s'] / dec['video_s']:.1f} ms CPU per video-second), "
                  f"wall {fp['wall_s'] / dec['wall_s']:.2f}x")  # fmt: skip
        if 1 in args.workers and 2 in args.workers:
            one, two = table[(mode, "fingerprint", POOL, 1)], table[(mode, "fingerprint", POOL, 2)]
            inproc = table[(mode, "fingerprint", IN_PROCESS, 1)]
            print(
                f"{mode}: 2 workers give {two['per_wall'] / one['per_wall']:.2f}x the fingerprint wall throughput of 1 "
                f"({two['per_wall'] / inproc['per_wall']:.2f}x that of the in-process run); "
                f"CPU per video-second {two['cpu_s'] / one['cpu_s']:.2f}x that of 1"
            )
            # One worker is two processes in a pipeline (ffmpeg decoding while Python hashes):
            # it keeps more than one core busy, which bounds what more workers can add.
            busy = one["cpu_s"] / one["wall_s"]
            cores = os.cpu_count() or 1
            print(
                f"{mode}: one worker kept {busy:.2f} cores busy in this run; at that, {cores} idle cores "
                f"allow 2 workers at most {min(2.0, cores / busy):.2f}x its throughput"
            )
    if DECODE_ALL in args.modes:
        ours = table[(DECODE_ALL, "fingerprint", IN_PROCESS, 1)]
        ours_pps = ours["pictures"] / ours["cpu_s"]
        print(f"\nvidtrace ({DECODE_ALL}, in-process): {ours['per_cpu']:.1f} video-s per CPU-s; "
              f"{ours['pictures']} pictures hashed, {ours_pps:.0f} per CPU-s")  # fmt: skip
        reference, why = vpdq_reference(sorted(set(files), key=files.index), args.vpdq_python)
        if reference is None:
            print(f"vPDQ reference skipped: {why}")
        else:
            once = {Path(r["path"]): r for r in reference}
            vpdq_cpu = sum(once[f]["cpu_s"] for f in files)  # the same list: each file `--copies` times
            vpdq_pictures = sum(once[f]["pictures"] for f in files)
            vpdq_per_cpu = ours["video_s"] / vpdq_cpu
            print(f"vPDQ (every frame, 1 thread, {args.vpdq_python}): {vpdq_per_cpu:.1f} video-s per CPU-s; "
                  f"{vpdq_pictures} pictures hashed, {vpdq_pictures / vpdq_cpu:.0f} per CPU-s")  # fmt: skip
            print(f"vidtrace / vPDQ: {ours['per_cpu'] / vpdq_per_cpu:.2f}x the video-seconds per CPU-second, "
                  f"{ours_pps / (vpdq_pictures / vpdq_cpu):.2f}x the pictures hashed per CPU-second")  # fmt: skip
        if 1 in args.workers and 2 in args.workers:
            one, two = table[(DECODE_ALL, "fingerprint", POOL, 1)], table[(DECODE_ALL, "fingerprint", POOL, 2)]
            c1, c2 = one["cpu_s"] / one["video_s"], two["cpu_s"] / two["video_s"]
            print(
                f"CPU per video-second: 1 worker {1000 * c1:.1f} ms, 2 workers {1000 * c2:.1f} ms ({100 * (c2 / c1 - 1):+.1f}%)"
            )
            # Workers share nothing but the machine: with CPU per video-second flat, throughput
            # grows with the cores given to them.
            print("model, video-seconds per wall-second on idle cores at the 2-worker CPU cost: " + ", ".join(
                f"{k} cores {k / c2:.0f}" for k in (1, 2, 4, 8, 16, 32)))  # fmt: skip
    if DECODE_ALL in args.modes and DECODE_KEYFRAMES in args.modes:
        fast, full = (
            table[(DECODE_KEYFRAMES, "fingerprint", IN_PROCESS, 1)],
            table[(DECODE_ALL, "fingerprint", IN_PROCESS, 1)],
        )
        print(f"keyframes mode: {fast['per_cpu'] / full['per_cpu']:.1f}x the throughput per CPU-second, "
              f"{fast['frames']} frames instead of {full['frames']}")  # fmt: skip
    print(load())
    if args.recall:
        for mode in args.modes:
            recall = robustness_recall(mode)
            print(
                f"robustness --quick pooled recall, decode mode {mode}: {recall if recall is None else f'{recall:.3f}'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
