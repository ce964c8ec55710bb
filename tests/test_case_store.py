"""A case folder ingested with its manifest: the manifest describes the files it names, the
others are listed; manifests with other separators and capitalised headers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURE_VIDEOS, MANIFEST, db_rows, run

GROUP = ["patriot_daily", "truth_wave", "voice_of_people"]


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """A case folder as an investigator keeps it: the clips under videos/<account>/ and the
    manifest beside them, plus one clip the manifest does not name."""
    folder = tmp_path / "CASE"
    shutil.copytree(FIXTURE_VIDEOS, folder / "videos")
    shutil.copy(MANIFEST, folder / "manifest.csv")
    (folder / "videos" / "late_account").mkdir()
    shutil.copy(FIXTURE_VIDEOS / "news_hub" / "orig_b.mp4", folder / "videos" / "late_account" / "saved.mp4")
    return folder


def test_folder_with_its_manifest_takes_the_manifest_times_accounts_and_titles(tmp_path, case):
    store = tmp_path / "store"
    result = run(store, "ingest", case, "--manifest", case / "manifest.csv")
    assert result.exit_code == 0, result.stderr
    uploads = db_rows(
        store,
        "SELECT a.handle, u.path, u.uploaded_at_source, u.title FROM uploads u JOIN accounts a ON a.id = u.account_id",
    )
    by_account = {(handle, Path(path).name): (source, title) for handle, path, source, title in uploads}
    # Every file the manifest names is stored once per manifest row, with its posting time and title.
    assert by_account[("truth_wave", "a_trimmed.mp4")] == ("manifest", "Watch before it is deleted")
    assert by_account[("casual_viewer", "orig_a.mp4")][0] == "manifest"
    # A file the manifest names is not also stored under its folder's name.
    assert not [u for u in uploads if u[0] == "videos" and Path(u[1]).name != "saved.mp4"]
    # The file the manifest does not name: ingested with its file time, and listed.
    unnamed = [u for u in uploads if Path(u[1]).name == "saved.mp4"]
    assert [(u[0], u[2]) for u in unnamed] == [("videos", "file_time")]
    assert "1 file(s) not in manifest" in result.stdout
    assert f"not in manifest: {case / 'videos' / 'late_account' / 'saved.mp4'}" in result.stdout
    assert len(uploads) == 11

    groups = json.loads(run(store, "coordination", "--json").stdout)["groups"]
    assert [g["accounts"] for g in groups] == [GROUP]
    assert groups[0]["clusters"] == [1, 2]

    # The nightly rescan lists it again; the manifest's files are still the manifest's.
    shutil.copy(FIXTURE_VIDEOS / "news_hub" / "orig_a.mp4", case / "videos" / "late_account" / "saved2.mp4")
    again = run(store, "rescan", "--json")
    assert again.exit_code == 0, again.stderr
    listed = json.loads(again.stdout)["not_in_manifest"]
    assert sorted(Path(p).name for p in listed) == ["saved.mp4", "saved2.mp4"]
    assert db_rows(store, "SELECT count(*) FROM uploads WHERE uploaded_at_source = 'manifest'") == [(10,)]


def test_coordination_says_when_the_uploads_it_needs_carry_only_file_times(tmp_path):
    store = tmp_path / "store"
    assert run(store, "ingest", FIXTURE_VIDEOS).exit_code == 0
    table = run(store, "coordination")
    assert table.exit_code == 0
    assert "0 group(s)" in table.stdout
    # The re-posted contents' uploads: orig_a, a_reencoded, a_trimmed, compilation, orig_b.
    assert "note: 5 upload(s) of contents posted more than once carry only file times" in table.stdout
    assert json.loads(run(store, "coordination", "--json").stdout)["file_time_only_uploads"] == 5
    report = tmp_path / "case.html"
    assert run(store, "report", "--html", report).exit_code == 0
    assert "5 upload(s) of contents posted more than once carry only file times" in report.read_text()
    # With posting times from the manifest, nothing is left out and nothing is said.
    manifest_store = tmp_path / "manifest-store"
    assert run(manifest_store, "ingest", "--manifest", MANIFEST).exit_code == 0
    assert "carry only file times" not in run(manifest_store, "coordination").stdout


def _manifest_rows(sep: str, header: list[str]) -> str:
    rows = [line.split(",", 3)[:3] for line in MANIFEST.read_text().splitlines()[1:]]
    return "\n".join([sep.join(header)] + [sep.join(r) for r in rows]) + "\n"


@pytest.mark.parametrize(
    "sep, header",
    [
        (";", ["Path", "Account", "Uploaded_At"]),
        ("\t", ["PATH", "account", " uploaded_at "]),
        (",", ["Path", "Account", "UPLOADED_AT"]),
    ],
    ids=["semicolon", "tab", "comma"],
)
def test_manifest_headers_in_any_case_and_separated_by_semicolons_or_tabs(tmp_path, case, sep, header):
    manifest = case / "manifest.csv"
    manifest.write_text(_manifest_rows(sep, header))
    store = tmp_path / "store"
    result = run(store, "ingest", "--manifest", manifest)
    assert result.exit_code == 0, result.stderr
    assert db_rows(store, "SELECT count(*), min(uploaded_at_source) FROM uploads") == [(10, "manifest")]
    groups = json.loads(run(store, "coordination", "--json").stdout)["groups"]
    assert [g["accounts"] for g in groups] == [GROUP]
