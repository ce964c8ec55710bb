"""The process's worker threads, for pure numpy work that runs outside the interpreter lock.

Candidates' alignment (`vidtrace.candidates`) and the frame index's search in blocks
(`vidtrace.index.multihash`) hand their independent pieces to one pool per process, as many
threads as the cores the process may use (at most 4); the results come back in the pieces' order,
as a loop would give them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: Threads of the pool (the cores this process may use, at most 4).
THREADS = min(4, cores())

_T = TypeVar("_T")
_R = TypeVar("_R")
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()
_PREFIX = "vidtrace-worker"


def pool() -> ThreadPoolExecutor:
    """This process's pool of worker threads (a forked child makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(THREADS, thread_name_prefix=_PREFIX))
        return _pool[1]


def each(
    work: Callable[[_T], _R], items: Sequence[_T], alone: Sequence[bool] = (), threads: int | None = None
) -> list[_R]:
    """`work` of each item, in order: in the pool's threads when `threads` (default `THREADS`)
    is 2 or more, except the items marked `alone`, done one at a time in the calling thread after
    the others; with `threads` under 2, all in the calling thread. Pure work only (no session, no
    shared state): the results are those of a loop."""
    threads = THREADS if threads is None else threads
    if threading.current_thread().name.startswith(_PREFIX):
        threads = 1  # already in the pool: waiting on it from here could leave nobody to work
    alone = list(alone) or [False] * len(items)
    together = [k for k in range(len(items)) if not alone[k]]
    later = [k for k in range(len(items)) if alone[k]]
    if threads < 2 or len(together) < 2:
        together, later = [], list(range(len(items)))
    out: list = [None] * len(items)
    futures = [(k, pool().submit(work, items[k])) for k in together]
    try:
        for k, future in futures:
            out[k] = future.result()
    finally:
        for _, future in futures:  # an error or an interrupt: the work not started is dropped
            future.cancel()
    for k in later:
        out[k] = work(items[k])
    return out
