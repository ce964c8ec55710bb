"""Inputs from hostile sources: broken, odd and crafted files and manifests.

Every bad input must give one line on stderr naming the file and the reason, be recorded as
failed in the database (a failed video when its bytes could be read, else the scan's list of
failed inputs), leave no partial rows, and let the batch go on; the command then exits 1.
Odd but valid videos (one frame, 0.3 s, variable frame rate, rotated, crafted names) must ingest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import db_rows, fixture_clip, run
from vidtrace import scan as scan_module
from vidtrace.decode import decode_memory_mb
from vidtrace.discover import path_text, read_manifest, text_path
from vidtrace.report import safe_text

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SOURCE = "cellauto=s=40x30:rule=30:r=25:seed={seed}:random_fill_ratio=0.5,scale=160x120:flags=neighbor"
ENCODE = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1", "-preset", "ultrafast"]
IS_ROOT = os.geteuid() == 0


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small generated clips, good and bad, made once per test session."""
    out = tmp_path_factory.mktemp("media")
    src = SOURCE.format(seed=5)
    clips = {
        "base.mp4": ["-f", "lavfi", "-i", src, "-t", "4", *ENCODE],
        "faststart.mp4": ["-f", "lavfi", "-i", SOURCE.format(seed=9), "-t", "4", *ENCODE, "-movflags", "+faststart"],
        "single_frame.mp4": ["-f", "lavfi", "-i", SOURCE.format(seed=21), "-frames:v", "1", *ENCODE],
        "short_0.3s.mp4": ["-f", "lavfi", "-i", SOURCE.format(seed=22), "-t", "0.3", *ENCODE],
        "vfr.mp4": [
            "-f", "lavfi", "-i", SOURCE.format(seed=23), "-t", "4",
            "-vf", "setpts='if(lt(N,25),N/25,1+(N-25)/5)/TB'", "-fps_mode", "vfr", *ENCODE,
        ],
        "audio_only.mp4": ["-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "aac"],
        "all_black.mp4": ["-f", "lavfi", "-i", "color=black:s=160x120:r=25", "-t", "2", *ENCODE],
        "huge_8000x8000.mkv": ["-f", "lavfi", "-i", "testsrc2=s=8000x8000:r=1", "-frames:v", "1", "-c:v", "mjpeg"],
    }  # fmt: skip
    for name, args in clips.items():
        ffmpeg(*args, str(out / name))
    ffmpeg("-display_rotation", "90", "-i", str(out / "base.mp4"), "-c", "copy", str(out / "rotated.mp4"))
    return {p.name: p for p in out.iterdir()}


def distinct_copy(base: Path, dest: Path, tag: str) -> Path:
    """The same pictures as `base` in a file of other bytes (a re-upload with new metadata)."""
    ffmpeg("-i", str(base), "-c", "copy", "-metadata", f"comment={tag}", str(dest))
    return dest


# name (bytes: may be any POSIX name) -> expected reason substring, or None for a good input
HOSTILE_NAMES: dict[bytes, None] = {
    b"with spaces in it.mp4": None,
    b'quote\'s "double".mp4': None,
    b"semi;colon; rm -rf x;.mp4": None,
    b"new\nline.mp4": None,
    b"bad\xff\xfebytes.mp4": None,
    b"-i.mp4": None,
    b"-y -f lavfi.mp4": None,
    b"$(touch pwned).mp4": None,
    b"\x1b[31mred\x1b[0m.mp4": None,
}


def build_tree(root: Path, media: dict[str, Path]) -> tuple[dict[str, str], dict[str, str], list[Path]]:
    """A folder of good and bad inputs under one account.

    Returns (bad file -> reason stored on a failed video), (bad file -> reason for inputs whose
    bytes cannot be read), and the good files.
    """
    acct = root / "hostile_acct"
    acct.mkdir(parents=True)
    bad_video: dict[str, str] = {}
    bad_input: dict[str, str] = {}
    good: list[Path] = []

    def put(name: str, data: bytes) -> Path:
        (acct / name).write_bytes(data)
        return acct / name

    bad_video[str(put("zero_bytes.mp4", b""))] = "empty file (0 bytes)"
    base = media["base.mp4"].read_bytes()
    bad_video[str(put("truncated_half.mp4", base[: len(base) // 2]))] = "not a readable video"
    bad_video[str(put("random_bytes.mp4", bytes(range(256)) * 64 + os.urandom(4096)))] = "not a readable video"
    bad_video[str(put("notes.mp4", b"this is a text file\nnot a video\n" * 40))] = "not a readable video"
    for name, reason in (("audio_only.mp4", "no video stream"), ("all_black.mp4", "no informative frames")):
        bad_video[str(put(name, media[name].read_bytes()))] = reason

    os.symlink("loop.mp4", acct / "loop.mp4")  # a link to itself
    bad_input[str(acct / "loop.mp4")] = "too many levels of symbolic links"
    os.symlink(acct / "nowhere.mp4", acct / "dangling.mp4")
    bad_input[str(acct / "dangling.mp4")] = "no such file or directory"
    os.mkfifo(acct / "fifo.mp4")  # reading it would block forever
    bad_input[str(acct / "fifo.mp4")] = "not a regular file"
    (acct / "subdir").mkdir()
    os.symlink("..", acct / "subdir" / "up")  # a folder loop: never followed
    if not IS_ROOT:  # permissions do not stop root
        locked = put("unreadable.mp4", base)
        locked.chmod(0)
        bad_input[str(locked)] = "permission denied"

    for name in ("single_frame.mp4", "short_0.3s.mp4", "vfr.mp4", "rotated.mp4", "huge_8000x8000.mkv"):
        good.append(put(name, media[name].read_bytes()))
    fast = media["faststart.mp4"].read_bytes()
    good.append(put("truncated_faststart.mp4", fast[: len(fast) // 2]))  # decodes in part: kept, warned
    for n, raw in enumerate(HOSTILE_NAMES):
        good.append(distinct_copy(media["base.mp4"], Path(os.fsdecode(bytes(acct) + b"/" + raw)), f"copy{n}"))
    # a folder (account) whose name is not UTF-8
    weird_account = Path(os.fsdecode(bytes(root) + b"/acct\xe9"))
    weird_account.mkdir()
    good.append(distinct_copy(media["faststart.mp4"], weird_account / "clip.mp4", "weird-account"))
    return bad_video, bad_input, good


def summary_line(kind: str, **counts: int) -> None:
    print(f"\n{kind}: " + ", ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr)


def test_bad_inputs_are_reported_recorded_and_skipped(tmp_path, media, capsys):
    root = tmp_path / "videos"
    bad_video, bad_input, good = build_tree(root, media)
    store = tmp_path / "store"
    result = run(store, "ingest", root, "--json")
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    failures = {f["path"]: f["reason"] for f in document["failures"]}

    # one line on stderr per bad input, naming it and saying why; the same in --json
    for path, reason in {**bad_video, **bad_input}.items():
        shown = safe_text(path_text(path))
        lines = [ln for ln in result.stderr.splitlines() if shown + ":" in ln]
        assert len(lines) == 1 and reason in lines[0], (path, lines, result.stderr)
        assert reason in failures[path_text(path)]
    assert set(failures) == {path_text(p) for p in {**bad_video, **bad_input}}
    assert all("\x1b" not in ln and "\n" not in ln for ln in result.stderr.splitlines())

    # failed videos are recorded with their reason and have no frames, matches or index entries
    stored = dict(
        db_rows(
            store,
            "SELECT u.path, v.status || ': ' || coalesce(v.error, '') FROM uploads u JOIN videos v ON v.id = u.video_id",
        )
    )
    for path, reason in bad_video.items():
        assert stored[path_text(path)].startswith("failed: ") and reason in stored[path_text(path)]
    # unreadable inputs have no video (no bytes to identify it): the scan records them
    ((counts,),) = db_rows(store, "SELECT counts FROM scans ORDER BY id DESC LIMIT 1")
    recorded = {f["path"]: f["reason"] for f in json.loads(counts)["failed_inputs"]}
    for path, reason in bad_input.items():
        assert path_text(path) not in stored and reason in recorded[path_text(path)]
    assert_no_partial_rows(store)

    # the batch went on: every good file is stored, fingerprinted and reopenable from its stored path
    for path in good:
        assert stored[path_text(path)] == "ok: ", path
        assert text_path(path_text(path)).is_file()
    assert not (Path.cwd() / "pwned").exists() and not (root / "hostile_acct" / "pwned").exists()
    accounts = {a for (a,) in db_rows(store, "SELECT handle FROM accounts")}
    assert accounts == {"hostile_acct", path_text(os.fsdecode(b"acct\xe9"))}
    warned = [w["path"] for w in document["warnings"]]
    assert any(p.endswith("truncated_faststart.mp4") for p in warned)

    # a second run re-reads nothing, and a rescan finds every stored path again
    again = run(store, "rescan", "--json")
    assert again.exit_code == 1
    again_counts = json.loads(again.stdout)["counts"]
    assert again_counts["new_videos"] == again_counts["gone_uploads"] == again_counts["new_uploads"] == 0
    assert_no_partial_rows(store)
    with capsys.disabled():
        summary_line(
            "bad inputs", tried=len(bad_video) + len(bad_input), good_odd_inputs=len(good), all_reported=len(failures)
        )


def assert_no_partial_rows(store: Path) -> None:
    assert db_rows(store, "PRAGMA foreign_key_check") == []
    assert db_rows(
        store, "SELECT count(*) FROM frames f JOIN videos v ON v.id = f.video_id WHERE v.status != 'ok'"
    ) == [(0,)]
    assert db_rows(
        store,
        "SELECT count(*) FROM videos v WHERE v.status = 'ok' AND v.source IS NULL AND NOT EXISTS (SELECT 1 FROM frames f WHERE f.video_id = v.id)",
    ) == [(0,)]
    assert db_rows(
        store,
        "SELECT count(*) FROM matches m JOIN videos v ON v.id IN (m.video_a_id, m.video_b_id) WHERE v.status != 'ok'",
    ) == [(0,)]
    assert db_rows(
        store, "SELECT count(*) FROM matches m WHERE NOT EXISTS (SELECT 1 FROM segments s WHERE s.match_id = m.id)"
    ) == [(0,)]
    assert db_rows(
        store,
        "SELECT count(*) FROM videos v WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.video_id = v.id) AND v.source IS NULL",
    ) == [(0,)]


def test_a_file_that_disappears_mid_scan_is_reported_and_read_again_later(tmp_path, media, monkeypatch):
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    keep = distinct_copy(media["base.mp4"], root / "keep.mp4", "keep")
    vanish = distinct_copy(media["faststart.mp4"], root / "vanish.mp4", "vanish")
    hidden = tmp_path / "hidden.mp4"
    real = scan_module.fingerprint_file

    def vanishing(path, settings, *progress):
        if Path(path).name == "vanish.mp4":
            shutil.move(vanish, hidden)  # gone between hashing and decoding
        return real(path, settings, *progress)

    monkeypatch.setattr(scan_module, "fingerprint_file", vanishing)
    store = tmp_path / "store"
    result = run(store, "ingest", root.parent)
    assert result.exit_code == 1
    (line,) = [ln for ln in result.stderr.splitlines() if "vanish.mp4" in ln]
    assert "disappeared" in line
    # nothing of it was stored, so its content is not marked failed for good
    assert db_rows(store, "SELECT path FROM uploads") == [(str(keep),)]
    assert db_rows(store, "SELECT status FROM videos") == [("ok",)]
    assert_no_partial_rows(store)
    monkeypatch.undo()
    shutil.move(hidden, vanish)
    back = run(store, "rescan", "--json")
    assert back.exit_code == 0, back.stderr
    assert json.loads(back.stdout)["counts"]["new_videos"] == 1


def test_stored_paths_round_trip_any_posix_name():
    for raw in [
        b"/a/plain.mp4",
        b"/a/bad\xff.mp4",
        b"/a/back\\slash\xfe.mp4",
        b"bytes:/x\\xff.mp4",
        b"/a/\xc3\xa9t\xc3\xa9.mp4",
    ]:
        name = os.fsdecode(raw)
        text = path_text(name)
        text.encode("utf-8")  # storable in any SQL text column and JSON
        assert os.fsencode(text_path(text)) == raw
    assert path_text("/a/plain.mp4") == "/a/plain.mp4"  # valid names are stored exactly


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(min_size=1, max_size=12).filter(
            lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")
        ),
        min_size=1,
        max_size=4,
    )
)
def test_path_text_is_reversible_for_every_posix_name(parts):
    raw = b"/" + b"/".join(parts)
    text = path_text(os.fsdecode(raw))
    text.encode("utf-8")
    assert os.fsencode(text_path(text)) == raw


# --- ffmpeg limits ----------------------------------------------------------------------------


def fake_ffmpeg(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-ffmpeg"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def test_a_hanging_ffmpeg_is_killed_and_reported(tmp_path, monkeypatch):
    # The fake ffmpeg starts a child that keeps the output pipe open: killing only the shell
    # would leave the read blocked forever.
    hang = fake_ffmpeg(tmp_path, "sleep 300 & sleep 300\nwait")
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(fixture_clip("unrelated_c.mp4"), root / "clip.mp4")
    monkeypatch.setenv("VIDTRACE_DECODE_TIMEOUT_S", "1")
    result = run(tmp_path / "store", "--quiet", "ingest", root.parent, "--ffmpeg", hang)  # stderr: errors only
    assert result.exit_code == 1
    (line,) = [ln for ln in result.stderr.splitlines() if "clip.mp4" in ln]
    assert "longer than 1 s" in line and "stopped" in line
    leftover = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
    mine = [pid for pid in leftover if Path(f"/proc/{pid}/environ").exists() and str(hang) in _cmdline_of_parent(pid)]
    assert mine == []


def _cmdline_of_parent(pid: str) -> str:
    try:
        ppid = Path(f"/proc/{pid}/stat").read_text().split()[3]
        return Path(f"/proc/{ppid}/cmdline").read_text()
    except OSError:
        return ""


def test_ffmpeg_runs_with_a_memory_limit(tmp_path, monkeypatch):
    report = tmp_path / "limit.txt"
    probe = fake_ffmpeg(tmp_path, f'ulimit -v > "{report}"\nexit 1')
    clip = tmp_path / "clip.mp4"
    shutil.copy(fixture_clip("unrelated_c.mp4"), clip)
    monkeypatch.delenv("VIDTRACE_DECODE_MEMORY_MB", raising=False)
    run(tmp_path / "store", "ingest", tmp_path, "--ffmpeg", probe)
    assert int(report.read_text()) == decode_memory_mb() * 1024  # ulimit -v counts KiB


def test_a_huge_frame_over_the_memory_limit_is_stopped_and_reported(tmp_path, media, monkeypatch):
    # With the default limit the 8000x8000 clip ingests (see the bad-input test); under a tight
    # one ffmpeg is refused the memory, stopped at once (some decoders retry forever), and the
    # file is reported.
    root = tmp_path / "videos" / "alice"
    root.mkdir(parents=True)
    shutil.copy(media["huge_8000x8000.mkv"], root / "huge.mkv")
    monkeypatch.setenv("VIDTRACE_DECODE_MEMORY_MB", "150")
    store = tmp_path / "store"
    result = run(store, "--quiet", "ingest", root.parent)  # stderr: errors only
    assert result.exit_code == 1
    (line,) = [ln for ln in result.stderr.splitlines() if "huge.mkv" in ln]
    assert "150 MiB memory limit" in line
    assert db_rows(store, "SELECT status, error FROM videos") == [("failed", line.split("huge.mkv: ", 1)[1])]
    assert_no_partial_rows(store)


# --- manifests --------------------------------------------------------------------------------


def test_bad_manifest_rows_are_reported_and_the_rest_ingested(tmp_path, capsys):
    folder = tmp_path / "case"
    (folder / "v").mkdir(parents=True)
    shutil.copy(fixture_clip("unrelated_c.mp4"), folder / "v" / "good.mp4")
    long = "x" * 5000
    rows = [
        "path,account,uploaded_at,title",
        "v/good.mp4,alice,2026-03-01T10:00:00Z,fine",
        "v/good.mp4,alice,2026-03-01T10:00:00Z,again",  # duplicate
        "v/good.mp4,bob,not-a-date,bad date",
        "v/good.mp4,carol,2026-13-45T99:00:00,impossible date",
        "../../etc/passwd,mallory,,escape",
        "/etc/passwd,mallory,,absolute escape",
        f"v/good.mp4,{long},,long account",
        f"v/good.mp4,dave,,{long}",
        ",erin,,missing path",
        "v/good.mp4,,,missing account",
        "v/missing.mp4,frank,,no such file",
    ]
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    store = tmp_path / "store"
    result = run(store, "ingest", "--manifest", manifest, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    reasons = {f["path"]: f["reason"] for f in document["failures"]}
    expected = {
        3: "duplicate row", 4: "not an ISO 8601 time", 5: "not an ISO 8601 time", 6: "outside the manifest's folder",
        7: "outside the manifest's folder", 8: "longer than", 9: "longer than", 10: "missing path", 11: "missing account",
    }  # fmt: skip
    for line_no, reason in expected.items():
        where = f"{manifest}:{line_no}"
        assert reason in reasons[where], (where, reasons)
        assert sum(1 for ln in result.stderr.splitlines() if where + ":" in ln) == 1
    assert "no such file" in reasons[str(folder / "v" / "missing.mp4")]
    assert db_rows(store, "SELECT a.handle, u.title FROM uploads u JOIN accounts a ON a.id = u.account_id") == [
        ("alice", "fine")
    ]
    assert db_rows(store, "SELECT count(*) FROM accounts") == [(1,)]
    with capsys.disabled():
        summary_line("bad manifest rows", tried=len(expected) + 1, reported=len(reasons))


@pytest.mark.parametrize("header", ["path,uploaded_at", "account,title", "", "\x00\x01garbage"])
def test_manifest_without_required_columns_is_a_usage_error_and_writes_nothing(tmp_path, header):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(header + "\nv/a.mp4,2026-01-01\n")
    store = tmp_path / "store"
    result = run(store, "ingest", "--manifest", manifest)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "manifest" in result.stderr and len(result.stderr.splitlines()) == 1
    assert db_rows(store, "SELECT count(*) FROM uploads") == [(0,)]


# --- manifest parsing properties ------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_text, _text, _text), max_size=8))
def test_manifest_parsing_never_crashes_and_keeps_paths_inside(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("m")
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"path": p, "account": a, "title": t}) + "\n" for p, a, t in rows))
    candidates, problems = read_manifest(manifest)
    assert len(candidates) + len(problems) == len(rows)  # every row is used or reported
    base = folder.resolve()
    for c in candidates:
        assert c.path.is_absolute() and c.path.is_relative_to(base)
        assert c.account and c.account == c.account.strip()
    keys = [(c.path, c.account) for c in candidates]
    assert len(keys) == len(set(keys))  # no duplicate uploads
    lines = [int(p.where.rsplit(":", 1)[1]) for p in problems]
    assert all(1 <= n <= len(rows) for n in lines) and len(lines) == len(set(lines))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,8}\.mp4", fullmatch=True), st.from_regex(r"[a-z]{1,8}", fullmatch=True), _text
        ),
        min_size=1,
        max_size=6,
    )
)
def test_csv_and_jsonl_manifests_read_the_same(tmp_path_factory, rows):
    import csv

    folder = tmp_path_factory.mktemp("m")
    with open(folder / "m.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "account", "title"])
        writer.writerows(rows)
    (folder / "m.jsonl").write_text(
        "".join(json.dumps({"path": p, "account": a, "title": t}) + "\n" for p, a, t in rows)
    )
    from_csv, csv_problems = read_manifest(folder / "m.csv")
    from_jsonl, jsonl_problems = read_manifest(folder / "m.jsonl")
    assert from_csv == from_jsonl
    assert len(csv_problems) == len(jsonl_problems)
