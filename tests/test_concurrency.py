"""Concurrent runs, `doctor`, and hostile metadata.

- A second writer exits 3 with a clear message (also on a new store, before migrating it).
- `lookup` during an ingest reads a consistent state: not blocked by the writer, blind to its
  uncommitted rows, and correct while the index file lags behind SQL.
- `doctor` finds a stale index, missing files, failed videos and unfinished scans; `--repair`
  mends them and says what it did.
- Account names and titles carrying HTML, SQL, control characters and terminal escapes are
  stored as given and escaped in every output format.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3

import pytest

from conftest import db_rows, fixture_clip, run
from vidtrace.commands.doctor import doctor
from vidtrace.commands.main import cli
from vidtrace.store import db
from vidtrace.store.db import writer_lock

if "doctor" not in cli.commands:
    cli.add_command(doctor)


def _tree(tmp_path, clips: dict[str, list[str]]):
    root = tmp_path / "videos"
    for account, names in clips.items():
        (root / account).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(fixture_clip(name), root / account / name)
    return root


# --- writers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["ingest", "rescan"])
def test_second_writer_exits_3_with_a_clear_message_and_writes_nothing(tmp_path, command):
    root = _tree(tmp_path, {"alice": ["unrelated_c.mp4"]})
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 0
    shutil.copy(fixture_clip("a_trimmed.mp4"), root / "alice")
    before = db_rows(store, "SELECT count(*) FROM scans")
    with writer_lock(db.StoreLocation.resolve(store)):
        args = ["ingest", root] if command == "ingest" else ["rescan"]
        result = run(store, *args)
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: another vidtrace ingest or rescan") and "try again" in result.stderr
    assert db_rows(store, "SELECT count(*) FROM scans") == before


def test_a_new_store_is_not_migrated_while_another_writer_holds_it(tmp_path):
    root = _tree(tmp_path, {"alice": ["unrelated_c.mp4"]})
    store = tmp_path / "store"
    with writer_lock(db.StoreLocation.resolve(store)):
        result = run(store, "ingest", root)
    assert result.exit_code == 3 and "another vidtrace" in result.stderr
    assert run(store, "ingest", root).exit_code == 0  # the lock died with its holder


# --- readers during a write -------------------------------------------------------------------


def test_lookup_during_an_ingest_sees_only_committed_whole_videos(tmp_path):
    root = _tree(tmp_path, {"news": ["orig_a.mp4"], "other": ["unrelated_c.mp4"]})
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 0
    clip = fixture_clip("a_trimmed.mp4")
    first = run(store, "lookup", clip, "--json")
    assert first.exit_code == 0

    # An ingest in progress: it holds the writer lock and has an open write transaction with a
    # video and half of its frames, not yet committed.
    with writer_lock(db.StoreLocation.resolve(store)):
        conn = sqlite3.connect(store / "vidtrace.db", isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO videos (sha256, size_bytes, status, algorithm, algorithm_version, sampled_frames, created_at) "
                "VALUES ('f' || hex(randomblob(31)), 1, 'ok', 'phash64', 1, 1, '2026-01-01 00:00:00')"
            )
            video_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            hashes = conn.execute("SELECT hash, region FROM frames LIMIT 5").fetchall()
            for h, region in hashes:
                conn.execute(
                    "INSERT INTO frames (video_id, ts_s, hash, quality, region) VALUES (?, 0, ?, 50, ?)",
                    (video_id, h, region),
                )
            during = run(store, "lookup", clip, "--json")
            assert during.exit_code == 0, during.stderr
            assert json.loads(during.stdout) == json.loads(first.stdout)
        finally:
            conn.execute("ROLLBACK")
            conn.close()


def test_lookup_is_right_while_the_index_file_lags_behind_sql(tmp_path):
    # An ingest that died (or is still running) after committing a video but before saving the index.
    root = _tree(tmp_path, {"news": ["orig_a.mp4"]})
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 0
    stale = (store / "frames.faiss").read_bytes(), (store / "frames.faiss.json").read_bytes()
    shutil.copy(fixture_clip("orig_b.mp4"), root / "news")
    assert run(store, "ingest", root).exit_code == 0
    (store / "frames.faiss").write_bytes(stale[0])
    (store / "frames.faiss.json").write_bytes(stale[1])
    result = run(store, "lookup", fixture_clip("compilation.mp4"), "--json")
    assert result.exit_code == 0
    names = {u["path"].rsplit("/", 1)[1] for m in json.loads(result.stdout)["matches"] for u in m["uploads"]}
    assert names == {"orig_a.mp4", "orig_b.mp4"}


# --- doctor -----------------------------------------------------------------------------------


def test_doctor_finds_problems_and_repair_mends_them(tmp_path):
    root = _tree(tmp_path, {"news": ["orig_a.mp4", "unrelated_c.mp4"], "bob": ["a_trimmed.mp4"]})
    broken = root / "bob" / "later_fixed.mp4"
    broken.write_bytes(fixture_clip("compilation.mp4").read_bytes()[:2000])  # a download cut short
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 1
    healthy_before = run(store, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(healthy_before.stdout)["checks"]}
    assert healthy_before.exit_code == 1 and not checks["failed_videos"]["ok"] and checks["index"]["ok"]

    # damage: stale index, a file gone, a scan left running, and the broken download completed
    (store / "frames.faiss").unlink()
    (root / "news" / "unrelated_c.mp4").unlink()
    conn = sqlite3.connect(store / "vidtrace.db")
    conn.execute("UPDATE scans SET status = 'running', finished_at = NULL WHERE id = 1")
    conn.commit()
    conn.close()
    failed_path = db_rows(
        store, "SELECT u.path FROM uploads u JOIN videos v ON v.id = u.video_id WHERE v.status = 'failed'"
    )[0][0]
    shutil.copy(fixture_clip("compilation.mp4"), failed_path)  # same path, now complete

    checked = run(store, "doctor")
    assert checked.exit_code == 1
    for word in ("FAIL  index", "FAIL  missing_files", "FAIL  failed_videos", "FAIL  scans", "--repair"):
        assert word in checked.stdout, checked.stdout
    before = db_rows(store, "SELECT count(*) FROM frames")

    repaired = run(store, "doctor", "--repair")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    out = repaired.stdout
    assert "rebuilt the frame index" in out and "marked 1 upload(s)" in out and "1 now fingerprinted" in out
    assert "new match" in out and "marked 1 scan(s)" in out
    assert all(line.startswith("ok") for line in out.splitlines() if line[:4] in ("ok  ", "FAIL"))
    assert db_rows(store, "SELECT count(*) FROM videos WHERE status = 'failed'") == [(0,)]
    # ...with its sound print (empty: the clip is silent), so no rescan fingerprints it again
    assert db_rows(
        store, "SELECT count(*) FROM videos v LEFT JOIN sound_prints s ON s.video_id = v.id WHERE s.video_id IS NULL"
    ) == [(0,)]
    assert db_rows(store, "SELECT count(*) FROM frames")[0][0] > before[0][0]
    assert db_rows(store, "SELECT count(*) FROM uploads WHERE gone_at IS NOT NULL") == [(1,)]
    # the retried video was matched like any other: the compilation shares 8 s with orig_a
    assert (
        db_rows(
            store,
            "SELECT count(*) FROM matches m JOIN videos v ON v.id IN (m.video_a_id, m.video_b_id) WHERE v.sha256 = (SELECT v2.sha256 FROM videos v2 JOIN uploads u ON u.video_id = v2.id WHERE u.path = ?)".replace(
                "?", repr(failed_path)
            ),
        )[0][0]
        >= 1
    )
    assert run(store, "doctor").exit_code == 0


def test_doctor_repair_is_refused_while_a_writer_runs(tmp_path):
    root = _tree(tmp_path, {"news": ["unrelated_c.mp4"]})
    store = tmp_path / "store"
    assert run(store, "ingest", root).exit_code == 0
    with writer_lock(db.StoreLocation.resolve(store)):
        assert run(store, "doctor").exit_code == 0  # checking only reads
        assert run(store, "doctor", "--repair").exit_code == 3


# --- hostile metadata -------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "'); DROP TABLE uploads; --",
    "\x1b[2J\x1b[31mred\x1b]0;title\x07",
    "bell\x07tab\tcr\rnull-ish\x7f",
    "rtl\u202eoverride",
    '"quoted", =cmd|"/c calc"!A1',
]


def test_hostile_account_names_and_titles_are_stored_as_given_and_escaped_everywhere(tmp_path):
    folder = tmp_path / "case"
    (folder / "v").mkdir(parents=True)
    shutil.copy(fixture_clip("orig_a.mp4"), folder / "v" / "a.mp4")
    shutil.copy(fixture_clip("a_trimmed.mp4"), folder / "v" / "b.mp4")
    manifest = folder / "manifest.jsonl"
    rows = [
        {
            "path": f"v/{'a' if n % 2 == 0 else 'b'}.mp4",
            "account": f"acct{n} {text}",
            "title": text,
            "uploaded_at": f"2026-03-0{n + 1}T10:00:00Z",
        }
        for n, text in enumerate(HOSTILE)
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = tmp_path / "store"
    result = run(store, "ingest", "--manifest", manifest)
    assert result.exit_code == 0, result.stderr

    # stored exactly as given
    assert sorted(db_rows(store, "SELECT handle FROM accounts")) == sorted((r["account"],) for r in rows)
    assert sorted(db_rows(store, "SELECT title FROM uploads")) == sorted((r["title"],) for r in rows)

    outputs = {
        "ingest table": result.stdout + result.stderr,
        "matches table": run(store, "matches").stdout,
        "lookup table": run(store, "lookup", folder / "v" / "b.mp4").stdout,
    }
    for name, text in outputs.items():
        for bad in ("\x1b", "\x07", "\r", "\x7f", "\u202e"):
            assert bad not in text, (name, repr(bad))
    assert "acct0 <script>alert(1)</script>" in outputs["lookup table"]  # text stays readable

    if "report" in cli.commands:  # the HTML report escapes markup
        html_file = tmp_path / "report.html"
        assert run(store, "report", "--html", html_file).exit_code == 0
        html = html_file.read_text()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    for args in (["matches", "--json"], ["lookup", folder / "v" / "b.mp4", "--json"]):
        out = run(store, *args).stdout
        assert "\x1b" not in out and "\x07" not in out  # JSON escapes control characters
        document = json.loads(out)
        accounts = {
            u["account"] for m in document["matches"] for side in ("a", "b") if side in m for u in m[side]["uploads"]
        }
        accounts |= {u["account"] for m in document["matches"] if "uploads" in m for u in m["uploads"]}
        assert accounts <= {r["account"] for r in rows} and accounts  # the exact values survive

    csv_out = run(store, "matches", "--csv").stdout
    parsed = list(csv.reader(io.StringIO(csv_out)))
    assert len({len(r) for r in parsed}) == 1  # commas, quotes and newlines did not break rows
    for cell in (c for r in parsed[1:] for c in r):
        assert not cell.startswith(("=", "+", "-", "@")) or cell.lstrip("-").replace(".", "").isdigit()
