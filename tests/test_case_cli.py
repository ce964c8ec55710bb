"""The command line as a case is worked: global options after the command, single files, the
case file, report options, lookup naming clusters and groups, shell completion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from click.testing import CliRunner

from tests.conftest import MANIFEST, fixture_clip, run
from vidtrace.commands.main import cli, hoist_global_options


def invoke(*args: str, env: dict | None = None):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env=env)
    return result


def test_global_options_are_accepted_after_the_command(tmp_path):
    store = tmp_path / "store"
    result = invoke("ingest", "--manifest", MANIFEST, "--store", store, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (store / "vidtrace.db").is_file() and result.stderr == ""
    listed = invoke("matches", "--json", f"--store={store}")
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)["matches"]) == 7
    current = invoke("db", "current", "--store", store)
    assert current.exit_code == 0 and "current:" in current.stdout


def test_hoisting_leaves_other_arguments_alone():
    assert hoist_global_options(["ingest", "a", "--store", "s", "-v", "b"]) == [
        "--store",
        "s",
        "-v",
        "ingest",
        "a",
        "b",
    ]
    assert hoist_global_options(["--db", "u", "lookup", "x.mp4", "--quiet"]) == [
        "--db",
        "u",
        "--quiet",
        "lookup",
        "x.mp4",
    ]
    assert hoist_global_options(["ingest", "--", "--store"]) == ["ingest", "--", "--store"]
    assert hoist_global_options(["--store", "s", "matches"]) == ["--store", "s", "matches"]


def test_ingest_single_files(tmp_path):
    store = tmp_path / "store"
    one, two = fixture_clip("orig_a.mp4"), fixture_clip("a_reencoded.mp4")
    result = run(store, "ingest", one, two, "--account", "suspect")
    assert result.exit_code == 0, result.stderr
    assert "2 files, 2 new videos, 2 new uploads" in result.stdout and "1 new matches" in result.stdout
    missing = run(store, "ingest", tmp_path / "nope.mp4")
    assert missing.exit_code == 2 and "nope.mp4: not found" in missing.stderr


def test_case_file_gives_store_and_defaults(tmp_path, monkeypatch):
    case = tmp_path / "case"
    case.mkdir()
    (case / "vidtrace.toml").write_text(
        'store = "st"\nprogress_interval_s = 3600\n\n[coordination]\nmin-accounts = 4\n'
    )
    monkeypatch.chdir(case)
    monkeypatch.delenv("VIDTRACE_STORE", raising=False)
    assert invoke("ingest", "--manifest", MANIFEST).exit_code == 0
    assert (case / "st" / "vidtrace.db").is_file()
    assert "0 group(s)" in invoke("coordination").stdout  # the group has 3 accounts
    assert "1 group(s)" in invoke("coordination", "--min-accounts", "3").stdout  # a flag wins
    # --config names a file elsewhere; its store is relative to its own folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert invoke("coordination").exit_code == 2  # no case file here, so no store
    named = invoke("--config", case / "vidtrace.toml", "coordination")
    assert named.exit_code == 0 and "0 group(s)" in named.stdout


def test_a_bad_case_file_is_a_usage_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vidtrace.toml").write_text("[coordination]\nwindow_size = 3\n")
    result = invoke("coordination")
    assert result.exit_code == 2
    assert f"config file {tmp_path / 'vidtrace.toml'}: [coordination] has no option window_size" in result.stderr
    (tmp_path / "vidtrace.toml").write_text("store = \n")
    result = invoke("matches")
    assert result.exit_code == 2 and "not valid TOML" in result.stderr
    assert invoke("--config", tmp_path / "nope.toml", "matches").exit_code == 2


def test_report_takes_the_coordination_options(ingested_store, tmp_path):
    default = run(ingested_store, "report", "--html", tmp_path / "a.html")
    assert default.exit_code == 0 and "1 group(s)" in default.stdout
    strict = run(ingested_store, "report", "--html", tmp_path / "b.html", "--min-accounts", "4", "--window", "30m")
    assert strict.exit_code == 0 and "0 group(s)" in strict.stdout
    assert "30m (given)" in (tmp_path / "b.html").read_text()


def test_lookup_names_each_hits_cluster_and_group(ingested_store):
    clip = fixture_clip("a_trimmed.mp4")
    text = run(ingested_store, "lookup", clip)
    assert text.exit_code == 0, text.stderr
    assert "Where the hits belong:" in text.stdout
    assert "1. #5: cluster 1; group 1 (patriot_daily, truth_wave, voice_of_people)" in text.stdout
    document = json.loads(run(ingested_store, "lookup", clip, "--json").stdout)
    compilation = next(m for m in document["matches"] if m["video_id"] == 6)
    assert 1 in compilation["clusters"] and compilation["groups"] == [1]
    unrelated = json.loads(run(ingested_store, "lookup", fixture_clip("unrelated_c.mp4"), "--json").stdout)
    assert unrelated["matches"][0]["groups"] == []


def test_shell_completion_as_documented(tmp_path):
    vidtrace = shutil.which("vidtrace", path=os.path.dirname(sys.executable))
    env = {**os.environ, "_VIDTRACE_COMPLETE": "bash_source"}
    script = subprocess.run([vidtrace], env=env, capture_output=True, text=True, check=True).stdout
    assert "_vidtrace_completion" in script and "complete " in script
    env = {
        **os.environ,
        "_VIDTRACE_COMPLETE": "bash_complete",
        "COMP_WORDS": "vidtrace report --min",
        "COMP_CWORD": "2",
    }
    words = subprocess.run([vidtrace], env=env, capture_output=True, text=True, check=True).stdout
    assert "--min-accounts" in words and "--min-clusters" in words
