"""Progress of long jobs: what the library reports, and how the command line shows it.

The library only calls a callback, `progress(stage, done, total, **details)`, and never prints:

- `stage`: what is being done ("reading files", "fingerprinting", "matching", ...);
- `done`, `total`: items finished and items in the stage (`total` 0: not known in advance);
- details, all optional: `item` (the file being worked on), `item_bytes` (its size),
  `total_bytes` (the size of every item of the stage), `item_s` (how far into the file the work
  is, in video seconds) and `item_duration_s` (the file's duration, once known).

`Tracker` turns these calls into video-seconds done and total (the total is estimated from the
bytes still to read until every file's duration is known), a rate and the time left. The command
line shows them with `TerminalDisplay` (a tqdm bar) on a terminal, or with `LogDisplay` (one
timestamped line every `PROGRESS_INTERVAL_S`) where stderr is a file or a pipe: cron, nohup, CI.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int, **details: Any) -> None: ...


def silent(stage: str, done: int, total: int, **details: Any) -> None:
    """The progress callback that shows nothing."""


#: Without a terminal, one progress line every this many seconds (a log that a cron job or CI keeps
#: readable: 2 lines a minute). Env: VIDTRACE_PROGRESS_INTERVAL_S; config: progress_interval_s.
PROGRESS_INTERVAL_S = 30.0
#: Below this interval (seconds) no background thread writes lines between steps (tests use 0).
MIN_HEARTBEAT_S = 1.0
#: On a terminal, the bar is redrawn at most this often (seconds).
TERMINAL_REFRESH_S = 0.2
#: Longest file name shown (characters; the end of the path is kept).
ITEM_CHARS = 60
#: An item that has taken this many times the average of the items before it is reported as slow
#: (with how long it has taken) instead of a time left computed from that average.
SLOW_ITEM_FACTOR = 3.0
#: What a stage counts, where it is not files.
STAGE_UNITS = {"matching": "videos", "importing": "records", "report stills": "stills", "searching": "steps"}


def duration_text(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def short_item(item: str | None) -> str:
    if not item:
        return ""
    from vidtrace.text import safe_text  # hostile file names are shown, never acted on

    text = safe_text(item)
    return text if len(text) <= ITEM_CHARS else "…" + text[-(ITEM_CHARS - 1) :]


@dataclass(frozen=True)
class State:
    """Where a stage stands, as shown to the user."""

    stage: str
    done: int
    total: int
    item: str | None
    elapsed_s: float
    media_done_s: float | None  # video seconds done (None: the stage does not count them)
    media_total_s: float | None
    media_total_exact: bool  # every file's duration known (else estimated from bytes)
    rate: float | None  # video seconds per second, else items per second
    left_s: float | None
    #: how long the current item has taken, when far longer than the items before it (the time
    #: left from the average would mislead)
    slow_item_s: float | None = None

    def text(self) -> str:
        """`fingerprinting: 3/10 files, video 42s of ~2m10s (12.5x), about 7.0s left, now news/a.mp4`."""
        unit = STAGE_UNITS.get(self.stage, "files")
        parts = [f"{self.done}/{self.total} {unit}" if self.total else f"{self.done} {unit}"]
        if self.media_done_s is not None and self.media_total_s:
            approx = "" if self.media_total_exact else "~"
            parts.append(f"video {duration_text(self.media_done_s)} of {approx}{duration_text(self.media_total_s)}")
            if self.rate:
                parts.append(f"{self.rate:.1f}x realtime")
        elif self.rate:
            parts.append(f"{self.rate:.1f}/s")
        if self.slow_item_s is not None:
            parts.append(f"this one for {duration_text(self.slow_item_s)} so far")
        elif self.left_s is not None and not 0 < self.total <= self.done:
            parts.append(f"about {duration_text(self.left_s)} left")
        text = f"{self.stage}: " + ", ".join(parts)
        if self.item:
            text += f"; now {short_item(self.item)}"
        return text


class Tracker:
    """Accumulates progress calls into a `State`: video seconds, rate and time left."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.started = clock()
        self._reset(None)

    def _reset(self, stage: str | None) -> None:
        self.stage = stage
        self.stage_started = self.item_started = self.clock()
        self.done = self.total = 0
        self.item: str | None = None
        self.total_bytes = 0
        self.finished_bytes = 0  # bytes of the files finished
        self.finished_s = 0.0  # durations of the files finished
        self.timed_bytes = 0  # bytes of the finished files whose duration is known
        self.item_bytes = 0
        self.item_s: float | None = None
        self.item_duration_s: float | None = None
        self.media = False
        self.ready = 0  # items whose costly part is done, when more than `done` (a batch searched)

    def update(self, stage: str, done: int, total: int, **details: Any) -> State:
        if stage != self.stage:
            self._reset(stage)
        if done > self.done:  # the previous item is finished
            self._finish_item()
            self.item_started = self.clock()
        self.done, self.total = done, total
        self.ready = max(done, int(details.get("ready") or 0))
        if "item" in details and details["item"] != self.item:
            self.item = details["item"]
            self.item_bytes = int(details.get("item_bytes") or 0)
            self.item_s = self.item_duration_s = None
        self.total_bytes = int(details.get("total_bytes") or self.total_bytes)
        if details.get("item_duration_s") is not None:
            self.item_duration_s = float(details["item_duration_s"])
            self.media = True
        if details.get("item_s") is not None:
            self.item_s = float(details["item_s"])
            self.media = True
        if done >= total > 0:
            self.item = None
        return self.state()

    def _finish_item(self) -> None:
        self.finished_bytes += self.item_bytes
        if self.item_duration_s is not None:
            self.finished_s += self.item_duration_s
            self.timed_bytes += self.item_bytes
        elif self.item_s is not None:
            self.finished_s += self.item_s
            self.timed_bytes += self.item_bytes
        self.item_bytes = 0
        self.item_s = self.item_duration_s = None
        self.item = None

    def state(self) -> State:
        now = self.clock()
        elapsed = now - self.stage_started
        media_done = media_total = rate = left = None
        exact = False
        if self.media:
            current_s = min(self.item_s or 0.0, self.item_duration_s or float("inf"))
            media_done = self.finished_s + current_s
            known_s = self.finished_s + (self.item_duration_s or 0.0)
            known_bytes = self.timed_bytes + (self.item_bytes if self.item_duration_s is not None else 0)
            rest_bytes = max(
                0, self.total_bytes - self.finished_bytes - (self.item_bytes if self.item_duration_s is not None else 0)
            )
            exact = rest_bytes == 0 or self.done >= self.total > 0
            media_total = known_s + (rest_bytes * known_s / known_bytes if known_bytes and not exact else 0.0)
            media_total = max(media_total, media_done)
            if elapsed > 0 and media_done > 0:
                rate = media_done / elapsed
                left = (media_total - media_done) / rate if self.done < self.total else 0.0
        elif elapsed > 0 and self.ready > 0:
            # Items searched in a batch are nearly done once it is searched: the first one's wait
            # is the whole batch's, not one item's.
            rate = self.ready / elapsed
            left = max(0, self.total - self.ready) / rate if self.total else None
        slow = None
        current_s = now - self.item_started
        if (
            not self.media
            and self.done > 0
            and self.ready < self.total
            and current_s > SLOW_ITEM_FACTOR * max(elapsed - current_s, 0.0) / self.ready
        ):
            slow = current_s
        return State(
            self.stage or "",
            self.done,
            self.total,
            self.item,
            elapsed,
            media_done,
            media_total,
            exact,
            rate,
            left,
            slow,
        )

    def elapsed_s(self) -> float:
        return self.clock() - self.started


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LogDisplay:
    """Without a terminal: a timestamped line when a stage starts, every `interval_s` and when it
    ends; a closing line with the elapsed time.

    A step that takes longer than the interval (matching one long video) still gets its line
    every interval: a background thread writes the stage as it stands when nothing else was
    written for that long."""

    def __init__(
        self, stream: TextIO, interval_s: float = PROGRESS_INTERVAL_S, clock=time.monotonic, heartbeat: bool = True
    ):
        self.stream = stream
        self.interval_s = interval_s
        self.tracker = Tracker(clock)
        self.last_line = float("-inf")
        self.last_stage: str | None = None
        self.last_done: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._heartbeat = heartbeat and interval_s >= MIN_HEARTBEAT_S
        self._thread: threading.Thread | None = None

    def __call__(self, stage: str, done: int, total: int, **details: Any) -> None:
        with self._lock:
            state = self.tracker.update(stage, done, total, **details)
            now = self.tracker.clock()
            ended = 0 < total <= done
            if stage != self.last_stage or ended or now - self.last_line >= self.interval_s:
                if stage == self.last_stage and ended and self.last_done == (done, total):
                    return  # the end of a stage is written once
                self.last_stage, self.last_line, self.last_done = stage, now, (done, total)
                self._write(state.text())
        if self._heartbeat and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="vidtrace-progress", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stopped.wait(self.interval_s / 2):
            self.heartbeat()

    def heartbeat(self) -> None:
        """Write the stage as it stands if no line was written for `interval_s`."""
        with self._lock:
            now = self.tracker.clock()
            if self.last_stage is None or now - self.last_line < self.interval_s or self._stopped.is_set():
                return
            self.last_line = now
            self._write(self.tracker.state().text())

    def _write(self, text: str) -> None:
        self.stream.write(f"{utc_stamp()} {text}\n")
        self.stream.flush()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self, what: str) -> None:
        self.stop()
        with self._lock:
            self._write(f"{what} finished in {duration_text(self.tracker.elapsed_s())}")


class TerminalDisplay:
    """On a terminal: one tqdm bar per stage (video seconds when known, else files)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.tracker = Tracker()
        self.bar: Any = None  # a tqdm bar while a stage shows
        self.stage: str | None = None
        self.last_draw = float("-inf")

    def __call__(self, stage: str, done: int, total: int, **details: Any) -> None:
        from tqdm import tqdm

        state = self.tracker.update(stage, done, total, **details)
        if stage != self.stage:
            self._end_bar()
            self.stage = stage
            self.bar = tqdm(
                total=total or None, desc=stage, file=self.stream, leave=True, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}", mininterval=TERMINAL_REFRESH_S,
            )  # fmt: skip
        now = self.tracker.clock()
        ended = 0 < total <= done
        if not ended and now - self.last_draw < TERMINAL_REFRESH_S:
            return
        self.last_draw = now
        if state.media_done_s is not None and state.media_total_s:
            self.bar.total, self.bar.n = round(state.media_total_s, 1), round(state.media_done_s, 1)
        else:
            self.bar.total, self.bar.n = total or None, done
        self.bar.set_postfix_str(state.text().split(": ", 1)[1], refresh=False)
        self.bar.refresh()

    def _end_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def stop(self) -> None:
        self._end_bar()

    def close(self, what: str) -> None:
        self._end_bar()
        self.stream.write(f"{what} finished in {duration_text(self.tracker.elapsed_s())}\n")
        self.stream.flush()


class QuietDisplay:
    def __call__(self, stage: str, done: int, total: int, **details: Any) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self, what: str) -> None:
        pass


def display(quiet: bool, interval_s: float = PROGRESS_INTERVAL_S, stream: TextIO | None = None):
    """The display the command line hands to the library as its progress callback."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return QuietDisplay()
    if stream.isatty():
        return TerminalDisplay(stream)
    return LogDisplay(stream, interval_s)
