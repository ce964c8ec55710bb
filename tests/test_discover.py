"""Discovery: walking a folder of account folders, and reading CSV / JSON Lines manifests."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidtrace.discover import MAX_FIELD_CHARS, Candidate, parse_time, read_manifest, walk_root
from vidtrace.errors import UsageError

UTC = dt.UTC


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00")
    return path


# --- walk_root ------------------------------------------------------------------------------


def test_walk_root_accounts_from_first_folder_level(tmp_path):
    touch(tmp_path / "alice" / "one.mp4")
    touch(tmp_path / "alice" / "2024" / "deep" / "two.MOV")  # nested: still alice; case-insensitive
    touch(tmp_path / "bob" / "three.webm")
    touch(tmp_path / "loose.mkv")  # directly under the root: no account
    found = list(walk_root(tmp_path))
    assert all(isinstance(c, Candidate) for c in found)
    assert all(c.path.is_absolute() for c in found)
    by_name = {c.path.name: c.account for c in found}
    assert by_name == {"one.mp4": "alice", "two.MOV": "alice", "three.webm": "bob", "loose.mkv": None}
    assert {c.path for c in found} == {
        tmp_path / "alice" / "one.mp4",
        tmp_path / "alice" / "2024" / "deep" / "two.MOV",
        tmp_path / "bob" / "three.webm",
        tmp_path / "loose.mkv",
    }


def test_walk_root_skips_hidden_and_non_video_files(tmp_path):
    touch(tmp_path / "alice" / "keep.mp4")
    touch(tmp_path / "alice" / ".hidden.mp4")
    touch(tmp_path / "alice" / ".cache" / "inside.mp4")  # hidden folder
    touch(tmp_path / ".secret" / "x.mp4")  # hidden account folder
    touch(tmp_path / "alice" / "notes.txt")
    touch(tmp_path / "alice" / "thumb.jpg")
    touch(tmp_path / "alice" / "noext")
    touch(tmp_path / "alice" / "mp4")  # a name, not an extension
    found = [c.path.relative_to(tmp_path).as_posix() for c in walk_root(tmp_path)]
    assert found == ["alice/keep.mp4"]


def test_walk_root_order_is_stable(tmp_path):
    for name in ("c.mp4", "a.mp4", "b.mp4"):
        touch(tmp_path / "zed" / name)
        touch(tmp_path / "amy" / name)
    first = [c.path for c in walk_root(tmp_path)]
    assert first == [c.path for c in walk_root(tmp_path)]
    assert [p.relative_to(tmp_path).as_posix() for p in first] == [
        "amy/a.mp4",
        "amy/b.mp4",
        "amy/c.mp4",
        "zed/a.mp4",
        "zed/b.mp4",
        "zed/c.mp4",
    ]


def test_walk_root_relative_root_gives_absolute_paths(tmp_path, monkeypatch):
    touch(tmp_path / "root" / "alice" / "a.mp4")
    monkeypatch.chdir(tmp_path)
    (found,) = list(walk_root(Path("root")))
    assert found.path == tmp_path / "root" / "alice" / "a.mp4"
    assert found.account == "alice"


def test_walk_root_symlink_loop_does_not_hang(tmp_path):
    touch(tmp_path / "alice" / "sub" / "a.mp4")
    os.symlink(tmp_path, tmp_path / "alice" / "sub" / "loop")  # back to the root
    os.symlink(tmp_path / "alice", tmp_path / "alice" / "self")  # to its own parent
    found = []
    for candidate in walk_root(tmp_path):
        found.append(candidate)
        assert len(found) < 100, "walk_root followed a symbolic link loop"
    assert [c.path for c in found] == [tmp_path / "alice" / "sub" / "a.mp4"]


def test_walk_root_empty_folder(tmp_path):
    assert list(walk_root(tmp_path)) == []


# --- read_manifest --------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows: dict | str) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_csv_manifest_resolves_paths_and_times(tmp_path):
    manifest = write(
        tmp_path / "m" / "manifest.csv",
        "path,account,uploaded_at,platform,url,title\n"
        "videos/a.mp4,alice,2024-03-01T12:00:00,tiktok,https://x/1,First\n"
        "b.mp4,bob,2024-03-01T12:00:00Z,,,\n"
        "./sub/../c.mp4,carol,2024-03-01T14:00:00+02:00,yt,,\n"
        "d.mp4,dan,,,,\n",
    )
    candidates, problems = read_manifest(manifest)
    assert problems == []
    base = (tmp_path / "m").resolve()
    assert [c.path for c in candidates] == [base / "videos/a.mp4", base / "b.mp4", base / "c.mp4", base / "d.mp4"]
    assert [c.account for c in candidates] == ["alice", "bob", "carol", "dan"]
    noon = dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert [c.uploaded_at for c in candidates] == [noon, noon, noon, None]  # naive = UTC; Z; +02:00
    assert all(c.uploaded_at.utcoffset() == dt.timedelta(0) for c in candidates[:3])
    first = candidates[0]
    assert (first.platform, first.url, first.title) == ("tiktok", "https://x/1", "First")
    assert (candidates[1].url, candidates[1].title, candidates[1].platform) == (None, None, "")


def test_jsonl_manifest_resolves_paths_and_times(tmp_path):
    manifest = write(
        tmp_path / "m" / "uploads.jsonl",
        jsonl(
            {"path": "videos/a.mp4", "account": "alice", "uploaded_at": "2024-03-01T12:00:00"},
            {"path": "b.mp4", "account": "bob", "uploaded_at": "2024-03-01T12:00:00Z", "title": "Hi"},
            {"path": "c.mp4", "account": 42, "uploaded_at": None},
        ),
    )
    candidates, problems = read_manifest(manifest)
    assert problems == []
    base = (tmp_path / "m").resolve()
    assert [c.path for c in candidates] == [base / "videos/a.mp4", base / "b.mp4", base / "c.mp4"]
    assert [c.account for c in candidates] == ["alice", "bob", "42"]
    noon = dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert [c.uploaded_at for c in candidates] == [noon, noon, None]
    assert candidates[1].title == "Hi"


def test_relative_manifest_path_resolves_against_its_folder_not_cwd(tmp_path, monkeypatch):
    write(tmp_path / "m" / "manifest.csv", "path,account\na.mp4,alice\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    candidates, problems = read_manifest(Path("../m/manifest.csv"))
    assert problems == []
    assert [c.path for c in candidates] == [(tmp_path / "m").resolve() / "a.mp4"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_bad_date_row_is_reported_with_line_number_and_skipped(tmp_path, fmt):
    rows = [("a.mp4", "alice", "2024-03-01"), ("b.mp4", "bob", "yesterday"), ("c.mp4", "carol", "2024-13-40")]
    rows += [("d.mp4", "dan", "2024-03-02T08:00:00Z")]
    if fmt == "csv":
        text = "path,account,uploaded_at\n" + "".join(f"{p},{a},{t}\n" for p, a, t in rows)
        bad_lines = [3, 4]
    else:
        text = jsonl(*({"path": p, "account": a, "uploaded_at": t} for p, a, t in rows))
        bad_lines = [2, 3]
    manifest = write(tmp_path / f"manifest.{fmt}", text)
    candidates, problems = read_manifest(manifest)
    assert [c.account for c in candidates] == ["alice", "dan"]
    assert [p.where for p in problems] == [f"{manifest}:{n}" for n in bad_lines]
    assert all("uploaded_at" in p.reason for p in problems)
    assert "yesterday" in problems[0].reason


def test_csv_line_numbers_count_quoted_newlines(tmp_path):
    manifest = write(
        tmp_path / "manifest.csv",
        'path,account,title\na.mp4,alice,"two\nlines"\nb.mp4,,x\n',
    )
    candidates, problems = read_manifest(manifest)
    assert [c.title for c in candidates] == ["two\nlines"]
    assert [p.where for p in problems] == [f"{manifest}:4"]
    assert problems[0].reason == "missing account"


@pytest.mark.parametrize("header", ["account,uploaded_at", "path,uploaded_at", "file,owner", ""])
def test_csv_missing_required_column_is_a_usage_error(tmp_path, header):
    manifest = write(tmp_path / "manifest.csv", header + "\na.mp4,alice\n")
    with pytest.raises(UsageError):
        read_manifest(manifest)


def test_missing_manifest_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        read_manifest(tmp_path / "nope.csv")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_duplicate_row_is_reported(tmp_path, fmt):
    if fmt == "csv":
        text = "path,account\na.mp4,alice\n./a.mp4,alice\na.mp4,bob\n"
    else:
        text = jsonl(
            {"path": "a.mp4", "account": "alice"},
            {"path": "./a.mp4", "account": "alice"},
            {"path": "a.mp4", "account": "bob"},
        )
    manifest = write(tmp_path / f"manifest.{fmt}", text)
    candidates, problems = read_manifest(manifest)
    # The same file under another account is another upload, not a duplicate.
    assert [(c.path.name, c.account) for c in candidates] == [("a.mp4", "alice"), ("a.mp4", "bob")]
    line = 3 if fmt == "csv" else 2
    assert [p.where for p in problems] == [f"{manifest}:{line}"]
    assert "duplicate" in problems[0].reason


@pytest.mark.parametrize("bad_path", ["../../etc/passwd", "../outside.mp4", "sub/../../x.mp4", "/etc/passwd"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_paths_outside_the_manifest_folder_are_rejected(tmp_path, bad_path, fmt):
    if fmt == "csv":
        text = f"path,account\n{bad_path},mallory\nok.mp4,alice\n"
    else:
        text = jsonl({"path": bad_path, "account": "mallory"}, {"path": "ok.mp4", "account": "alice"})
    manifest = write(tmp_path / "m" / f"manifest.{fmt}", text)
    candidates, problems = read_manifest(manifest)
    assert [c.account for c in candidates] == ["alice"]
    assert len(problems) == 1
    assert "outside" in problems[0].reason
    assert problems[0].where == f"{manifest}:{2 if fmt == 'csv' else 1}"


@pytest.mark.parametrize("column", ["path", "account", "title", "url"])
def test_over_long_field_is_rejected(tmp_path, column):
    row = {"path": "a.mp4", "account": "alice", "title": "t", "url": "u"}
    row[column] = row[column] + "x" * MAX_FIELD_CHARS
    manifest = write(tmp_path / "manifest.jsonl", jsonl(row, {"path": "b.mp4", "account": "bob"}))
    candidates, problems = read_manifest(manifest)
    assert [c.account for c in candidates] == ["bob"]
    assert [p.where for p in problems] == [f"{manifest}:1"]
    assert column in problems[0].reason and str(MAX_FIELD_CHARS) in problems[0].reason


def test_field_at_the_length_limit_is_accepted(tmp_path):
    title = "x" * MAX_FIELD_CHARS
    manifest = write(tmp_path / "manifest.csv", f"path,account,title\na.mp4,alice,{title}\n")
    candidates, problems = read_manifest(manifest)
    assert problems == [] and candidates[0].title == title


def test_invalid_json_line_is_reported_and_the_rest_kept(tmp_path):
    manifest = write(
        tmp_path / "manifest.jsonl",
        jsonl(
            {"path": "a.mp4", "account": "alice"},
            '{"path": "b.mp4", "account": ',
            "",
            '["not", "an", "object"]',
            {"path": "c.mp4", "account": "carol"},
        ),
    )
    candidates, problems = read_manifest(manifest)
    assert [c.account for c in candidates] == ["alice", "carol"]
    assert [p.where for p in problems] == [f"{manifest}:2", f"{manifest}:4"]
    assert "JSON" in problems[0].reason
    assert "object" in problems[1].reason


def test_missing_required_value_and_nul_byte_are_reported(tmp_path):
    manifest = write(
        tmp_path / "manifest.jsonl",
        jsonl(
            {"path": "", "account": "alice"},
            {"path": "a.mp4"},
            {"path": "a\x00.mp4", "account": "x"},
            {"path": "ok.mp4", "account": "ok"},
        ),
    )
    candidates, problems = read_manifest(manifest)
    assert [c.account for c in candidates] == ["ok"]
    assert [(p.where.rsplit(":", 1)[1], p.reason) for p in problems] == [
        ("1", "missing path"),
        ("2", "missing account"),
        ("3", "path contains a NUL byte"),
    ]


def test_csv_row_with_extra_fields_is_reported(tmp_path):
    manifest = write(tmp_path / "manifest.csv", "path,account\na.mp4,alice,surplus\nb.mp4,bob\n")
    candidates, problems = read_manifest(manifest)
    assert [c.account for c in candidates] == ["bob"]
    assert [p.where for p in problems] == [f"{manifest}:2"]


def test_csv_with_byte_order_mark(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes("path,account\na.mp4,alice\n".encode("utf-8-sig"))
    candidates, problems = read_manifest(manifest)
    assert problems == [] and [c.account for c in candidates] == ["alice"]


# --- parse_time -----------------------------------------------------------------------------

aware = st.datetimes(
    min_value=dt.datetime(1900, 1, 2),
    max_value=dt.datetime(2200, 12, 30),
    timezones=st.builds(dt.timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timedelta(minutes=m))),
)


@settings(deadline=None)
@given(aware)
def test_parse_time_round_trips_aware_datetimes(value):
    parsed = parse_time(value.isoformat())
    assert parsed == value
    assert parsed.utcoffset() == dt.timedelta(0)


@settings(deadline=None)
@given(aware)
def test_parse_time_reads_z_and_surrounding_space(value):
    utc = value.astimezone(UTC)
    text = "  " + utc.replace(tzinfo=None).isoformat() + "Z\n"
    assert parse_time(text) == value


@settings(deadline=None)
@given(st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 12, 30)))
def test_parse_time_takes_naive_as_utc(value):
    assert parse_time(value.isoformat()) == value.replace(tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-02-30", "12:00", "2024-03-01T25:00:00"])
def test_parse_time_rejects_non_times(text):
    with pytest.raises(ValueError):
        parse_time(text)
