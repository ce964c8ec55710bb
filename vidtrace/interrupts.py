"""Ctrl-C and SIGTERM during a scan: finished work is committed before the run ends."""

from __future__ import annotations

import contextlib
import signal
import threading


class Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM end a scan as KeyboardInterrupt, but never inside a `held()`
    block (storing one video, committing): there the signal waits for the block's end, so that
    what is committed on the way out is whole videos only."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: int | None = None
        self._holding = 0
        self._previous: dict = {}

    def _handle(self, signum, _frame) -> None:
        self.requested = signum
        if not self._holding:
            raise KeyboardInterrupt

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():  # handlers live in the main thread only
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def held(self, then_raise: bool = True):
        """Signals wait until the block ends; then, if one came, KeyboardInterrupt (when `then_raise`)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if then_raise and self.requested is not None and not self._holding:
            raise KeyboardInterrupt


def worker_init(threads: int) -> None:
    """A fingerprinting worker: one ffmpeg thread; Ctrl-C is the main process's to handle (it
    stops the workers), SIGTERM ends the worker."""
    from vidtrace.decode import set_decode_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    set_decode_threads(threads)
