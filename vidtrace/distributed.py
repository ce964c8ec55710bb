"""Fingerprinting spread over a Dask distributed cluster.

The scheduler hands each new file's decode-and-hash task to a worker; results (a few bytes per
frame) come back to the process running `ingest`, which alone writes to the store, one video per
transaction keyed by the file's SHA-256, so every result reaches the store exactly once even when
Dask retries a task. Workers must see the files at the same paths (a shared or mounted folder)
and have vidtrace installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vidtrace.errors import DependencyError
from vidtrace.settings import Settings

log = logging.getLogger(__name__)

#: How long to wait for the scheduler to answer (seconds).
CONNECT_TIMEOUT_S = 20
#: Tasks in flight per worker thread: enough to keep workers busy, few enough to bound memory.
IN_FLIGHT_PER_THREAD = 4


def run_on_cluster(
    scheduler: str,
    job: Callable,
    jobs: Iterable[tuple[str, str]],
    settings: Settings,
) -> Iterator[tuple[str, object]]:
    """(key, job(path, settings)) for each (key, path), in the order given."""
    try:
        from distributed import Client
    except ImportError as e:
        raise DependencyError("--scheduler needs Dask distributed: pip install 'vidtrace[distributed]'") from e
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        raise DependencyError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from e
    try:
        threads = max(1, sum(client.nthreads().values()))
        limit = threads * IN_FLIGHT_PER_THREAD
        log.info("fingerprinting on %s (%d worker threads)", scheduler, threads)
        pending: list[tuple[str, Any]] = []  # (key, a dask future)
        jobs = iter(jobs)
        while True:
            while len(pending) < limit:
                item = next(jobs, None)
                if item is None:
                    break
                key, path = item
                pending.append((key, client.submit(job, path, settings, key=f"vidtrace-fingerprint-{key}", pure=False)))
            if not pending:
                return
            key, future = pending.pop(0)
            yield key, future.result()
    finally:
        client.close()
