"""The worker pool of a scan: runs a job on each file in this process, in local processes, or on Dask.

Whichever runs them, the results come back to the one process that writes to the store, in the
order the jobs were given (on a cluster, the skipped ones first). Interrupted or closed early, the
pool drops the work in flight and stops its workers.
"""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Callable, Generator, Iterator
from typing import Any

from vidtrace.distributed import run_on_cluster
from vidtrace.interrupts import Interrupts, worker_init
from vidtrace.settings import Settings

#: Jobs queued per local worker process: enough to keep each busy, few enough to stop quickly.
QUEUED_PER_WORKER = 2


def run_jobs(
    job: Callable, jobs: list[tuple[str, str]], settings: Settings, *, skipped: dict[str, object],
    workers: int = 1, scheduler: str | None = None, interrupts: Interrupts | None = None,
    announce: Callable[[int, str], Callable | None] | None = None,
) -> Generator[tuple[str, Any], None, None]:  # fmt: skip
    """(key, job(path, settings[, on_frame])) for each (key, path) of `jobs`; (key, skipped[key])
    for the keys in `skipped`, which run no job.

    `scheduler` (tcp://host:port) runs them on a Dask cluster, else `workers` local processes (one:
    this process). `announce(n, key)` hears which result comes next (not on a cluster); in this
    process it returns the job's `on_frame` callback. A local worker stopped by the signal that
    `interrupts` caught ends the run as KeyboardInterrupt.
    """
    if scheduler:
        for key in {key for key, _ in jobs if key in skipped}:
            yield key, skipped[key]
        work = [(key, path) for key, path in jobs if key not in skipped]
        yield from run_on_cluster(scheduler, job, work, settings)
        return
    if workers == 1:
        for n, (key, path) in enumerate(jobs):
            on_frame = announce(n, key) if announce is not None else None
            yield key, skipped[key] if key in skipped else job(path, settings, on_frame)
        return
    yield from _in_processes(job, jobs, settings, skipped, workers, interrupts, announce)


def _in_processes(job, jobs, settings, skipped, workers, interrupts, announce) -> Iterator[tuple[str, object]]:
    # One ffmpeg thread per worker: N single-threaded decodes share the cores better than N
    # decodes each starting a thread per core.
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, initializer=worker_init, initargs=(1,))
    try:
        queue: collections.deque = collections.deque()
        jobs_iter = iter(jobs)
        done = 0
        while True:
            while len(queue) < QUEUED_PER_WORKER * workers:
                item = next(jobs_iter, None)
                if item is None:
                    break
                key, path = item
                queue.append((key, None if key in skipped else pool.submit(job, path, settings)))
            if not queue:
                return
            key, future = queue.popleft()
            if announce is not None:
                announce(done, key)
            done += 1
            if future is None:
                yield key, skipped[key]
                continue
            try:
                result = future.result()
            except concurrent.futures.process.BrokenProcessPool:
                if interrupts is not None and interrupts.requested is not None:  # a worker stopped by the same signal
                    raise KeyboardInterrupt from None
                raise
            yield key, result
    except BaseException:
        # Interrupted (or closed early): the work in flight is dropped, the workers stopped.
        for process in list((pool._processes or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
