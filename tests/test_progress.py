"""Progress of long jobs: video seconds, rate, time left and the current file; timestamped lines
when stderr is no terminal (cron, nohup, CI); a closing line with the elapsed time; --quiet."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_VIDEOS, MANIFEST, fixture_clip, run
from vidtrace import progress

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LINE = re.compile(rf"^{STAMP} (?P<text>.+)$")
FINGERPRINT_LINE = re.compile(
    rf"^{STAMP} fingerprinting: (?P<done>\d+)/6 files, video (?P<media>[\d.hms]+) of ~?[\d.hms]+, [\d.]+x realtime"
    r"(, about [\d.hms]+ left)?(; now (?P<item>.+))?$"
)


def _seconds(text: str) -> float:
    """`42s`, `1m05s`, `1h02m`, `9.5s` in seconds."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)([hms])", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def test_ingest_without_a_terminal_writes_timestamped_progress_lines(store, monkeypatch):
    monkeypatch.setenv("VIDTRACE_PROGRESS_INTERVAL_S", "0")  # every step: the test needs no long file
    result = run(store, "ingest", "--manifest", MANIFEST)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines[:5]
    fingerprinting = [m for m in map(FINGERPRINT_LINE.match, lines) if m]
    assert fingerprinting, [line for line in lines if "fingerprinting" in line][:5]
    # the current file is named, and the video seconds grow within one file (frame by frame)
    items = {m["item"] for m in fingerprinting if m["item"]}
    assert any(item.endswith("news_hub/orig_a.mp4") for item in items)
    within_first = [_seconds(m["media"]) for m in fingerprinting if m["done"] == "0"]
    assert len(set(within_first)) > 3 and within_first == sorted(within_first)
    # the stage ends with every video second done and the exact total
    last = [line for line in lines if " fingerprinting: 6/6 files" in line][-1]
    done_s, total_s = re.search(r"video (\S+) of (\S+),", last).groups()
    assert done_s == total_s and _seconds(done_s) > 60  # the six fixture clips last 1m43s
    assert any(re.match(rf"^{STAMP} matching: \d+/6 videos", line) for line in lines)
    assert re.match(rf"^{STAMP} ingest finished in [\d.hms]+$", lines[-1])


def test_progress_lines_are_spaced_by_the_interval(store, monkeypatch):
    monkeypatch.setenv("VIDTRACE_PROGRESS_INTERVAL_S", "3600")
    result = run(store, "ingest", "--manifest", MANIFEST)
    assert result.exit_code == 0, result.stderr
    stages = [LINE.match(line)["text"].split(":")[0] for line in result.stderr.splitlines()]
    # within an hour: one line as each stage starts, one as it ends, and the closing line
    assert stages[:-1] == ["reading files", "reading files", "fingerprinting", "fingerprinting", "matching", "matching"]
    assert stages[-1].startswith("ingest finished in")


def test_quiet_silences_progress(store, monkeypatch):
    monkeypatch.setenv("VIDTRACE_PROGRESS_INTERVAL_S", "0")
    result = run(store, "--quiet", "ingest", "--manifest", MANIFEST)
    assert result.exit_code == 0 and result.stderr == ""
    result = run(store, "lookup", fixture_clip("a_trimmed.mp4"), "--quiet")  # after the command too
    assert result.exit_code == 0 and result.stderr == ""


def test_lookup_rescan_import_and_report_show_progress(tmp_path, store, monkeypatch):
    monkeypatch.setenv("VIDTRACE_PROGRESS_INTERVAL_S", "0")
    videos = tmp_path / "videos"
    shutil.copytree(FIXTURE_VIDEOS, videos)
    assert run(store, "--quiet", "ingest", videos).exit_code == 0

    lookup = run(store, "lookup", fixture_clip("orig_a.mp4"))
    assert lookup.exit_code == 0, lookup.stderr
    query = [line for line in lookup.stderr.splitlines() if " fingerprinting the query: 0/1 files, video " in line]
    assert len(query) > 3 and query[-1].endswith("orig_a.mp4")
    assert re.search(rf"^{STAMP} searching: 1/1 steps", lookup.stderr, re.M)
    assert re.search(rf"^{STAMP} lookup finished in ", lookup.stderr, re.M)

    (videos / "late").mkdir()
    shutil.copy(fixture_clip("unrelated_c.mp4"), videos / "late" / "new.mp4")
    (videos / "late" / "new.mp4").write_bytes((videos / "late" / "new.mp4").read_bytes() + b"\0")  # a new content
    rescan = run(store, "rescan")
    assert rescan.exit_code == 0, rescan.stderr
    assert re.search(rf"^{STAMP} fingerprinting: 0/1 files, video .*; now .*late/new.mp4$", rescan.stderr, re.M)
    assert re.search(rf"^{STAMP} rescan finished in ", rescan.stderr, re.M)

    exported = tmp_path / "fp.jsonl.gz"
    assert run(store, "--quiet", "export", exported).exit_code == 0
    imported = run(tmp_path / "other", "import", exported, "--source", "lab-b")
    assert imported.exit_code == 0, imported.stderr
    assert re.search(rf"^{STAMP} importing: \d+ records(, [\d.]+/s)?; now .*fp.jsonl.gz:\d+$", imported.stderr, re.M)
    assert re.search(rf"^{STAMP} import finished in ", imported.stderr, re.M)

    written = run(store, "report", "--html", tmp_path / "r.html")
    assert written.exit_code == 0, written.stderr
    assert re.search(rf"^{STAMP} report stills: \d+/\d+ stills", written.stderr, re.M)
    assert re.search(rf"^{STAMP} report finished in ", written.stderr, re.M)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tracker_estimates_video_seconds_rate_and_time_left_from_bytes():
    clock = FakeClock()
    tracker = progress.Tracker(clock)
    # three files of 1, 1 and 2 MB; the first lasts 10 s
    tracker.update("fingerprinting", 0, 3, item="a.mp4", item_bytes=1_000_000, total_bytes=4_000_000)
    clock.now += 2
    state = tracker.update("fingerprinting", 0, 3, item_s=5.0, item_duration_s=10.0)
    assert state.media_done_s == 5.0 and state.media_total_s == pytest.approx(40.0) and not state.media_total_exact
    assert state.rate == pytest.approx(2.5) and state.left_s == pytest.approx(14.0)
    assert "video 5.0s of ~40s, 2.5x realtime, about 14s left; now a.mp4" in state.text()
    clock.now += 2
    tracker.update("fingerprinting", 1, 3, item="b.mp4", item_bytes=1_000_000)
    clock.now += 1
    state = tracker.update("fingerprinting", 1, 3, item_s=3.0, item_duration_s=30.0)
    # 40 s known for 2 MB: the last 2 MB are taken as 40 s more
    assert state.media_done_s == 13.0 and state.media_total_s == pytest.approx(80.0)
    state = tracker.update("fingerprinting", 3, 3)
    assert state.media_total_exact and state.item is None


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_bar_and_a_closing_line():
    stream = FakeTerminal()
    show = progress.display(quiet=False, stream=stream)
    assert isinstance(show, progress.TerminalDisplay)
    show("fingerprinting", 0, 2, item="x/clip.mp4", item_bytes=10, total_bytes=20)
    show("fingerprinting", 0, 2, item_s=4.0, item_duration_s=8.0)
    show("fingerprinting", 2, 2)
    show.close("ingest")
    text = stream.getvalue()
    assert "fingerprinting:" in text and "realtime" in text and "|" in text
    assert text.rstrip().splitlines()[-1].startswith("ingest finished in")
    assert isinstance(progress.display(quiet=False, stream=io.StringIO()), progress.LogDisplay)
    assert isinstance(progress.display(quiet=True, stream=stream), progress.QuietDisplay)


def test_a_bad_interval_is_a_usage_error(store, monkeypatch):
    monkeypatch.setenv("VIDTRACE_PROGRESS_INTERVAL_S", "often")
    result = run(store, "ingest", "--manifest", MANIFEST)
    assert result.exit_code == 2 and "VIDTRACE_PROGRESS_INTERVAL_S='often' is not a number" in result.stderr


def test_hostile_file_names_in_progress_lines_stay_one_line(tmp_path, store, monkeypatch):
    monkeypatch.setenv("VIDTRACE_PROGRESS_INTERVAL_S", "0")
    folder = tmp_path / "v" / "acct"
    folder.mkdir(parents=True)
    shutil.copy(fixture_clip("orig_a.mp4"), folder / "bad\nname\x1b[2J.mp4")
    result = run(store, "ingest", tmp_path / "v")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stderr
    assert all(LINE.match(line) for line in result.stderr.splitlines())
    assert "bad\\nname\\x1b[2J.mp4" in result.stderr
    assert Path(folder).exists()


def test_a_long_step_still_gets_a_line_every_interval():
    clock = FakeClock()
    stream = io.StringIO()
    show = progress.LogDisplay(stream, interval_s=30, clock=clock, heartbeat=False)
    show("matching", 0, 14)
    show.heartbeat()  # nothing new within the interval
    assert len(stream.getvalue().splitlines()) == 1
    clock.now += 31  # one video matched for longer than the interval: no call from the library
    show.heartbeat()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and re.match(rf"^{STAMP} matching: 0/14 videos$", lines[1])
    show.heartbeat()
    assert len(stream.getvalue().splitlines()) == 2  # once per interval
    # 13 videos in 13 s, then one that takes minutes: no time left from the average, but how long
    clock.now += 13
    show("matching", 13, 14)
    clock.now += 120
    show.heartbeat()
    assert stream.getvalue().splitlines()[-1].endswith("matching: 13/14 videos, 0.1/s, this one for 2m00s so far")
    show.close("ingest")
    assert re.match(rf"^{STAMP} ingest finished in 2m44s$", stream.getvalue().splitlines()[-1])


def test_items_searched_in_a_batch_count_towards_the_time_left():
    # Matching searches 64 videos at once: when the first is done the others nearly are, so the
    # time left comes from the videos searched, not from the first one's wait for its batch.
    clock = FakeClock()
    tracker = progress.Tracker(clock)
    tracker.update("matching", 0, 100)
    clock.now += 60  # the batch of the first 64 is searched
    tracker.update("matching", 0, 100, ready=64)
    clock.now += 4  # the first one written
    state = tracker.update("matching", 1, 100, ready=64)
    assert state.rate == pytest.approx(1.0) and state.left_s == pytest.approx(36.0)
    assert state.slow_item_s is None
    plain = progress.Tracker(clock)  # without the batch, the first item's wait was all of it
    plain.update("matching", 0, 100)
    clock.now += 64
    assert plain.update("matching", 1, 100).left_s == pytest.approx(99 * 64.0)
