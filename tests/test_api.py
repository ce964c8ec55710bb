"""The Python API: the README's example runs as written and prints what the README says."""

from __future__ import annotations

import contextlib
import io
import re
import shutil

import pytest

import vidtrace
from tests.conftest import FIXTURES, ROOT
from vidtrace.errors import UsageError


def _readme_example() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## Python API\n.*?```python\n(.*?)```\n\nIt prints:\n\n```\n(.*?)```", text, re.S | re.M)
    assert found, "README.md lacks the Python API example and its output"
    return found.group(1), found.group(2)


def test_readme_example_runs_and_prints_what_the_readme_shows(tmp_path, monkeypatch):
    code, printed = _readme_example()
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    assert out.getvalue() == printed
    assert (tmp_path / "api-store" / "vidtrace.db").is_file()


def test_api_returns_the_dataclasses_the_cli_prints(tmp_path):
    from vidtrace.coordinate import Cluster
    from vidtrace.lookup import LookupResult
    from vidtrace.scan import ScanSummary
    from vidtrace.store.repo import MatchRecord

    with vidtrace.open_store(tmp_path / "store") as case:
        summary = case.ingest(manifest=FIXTURES / "manifest.csv")
        assert isinstance(summary, ScanSummary) and summary.failures == []
        matches = case.matches()
        assert matches and all(isinstance(m, MatchRecord) for m in matches)
        assert all(isinstance(c, Cluster) for c in case.clusters())
        assert isinstance(case.lookup(FIXTURES / "videos" / "news_hub" / "orig_a.mp4", top=1), LookupResult)
        uploads = case.uploads([matches[0].video_a_id])
        assert uploads[matches[0].video_a_id][0].url.startswith("https://videoshare.example/")
    with pytest.raises(UsageError, match="no store at"):
        vidtrace.open_store(tmp_path / "missing", create=False)


def test_import_vidtrace_is_light():
    import subprocess
    import sys

    code = "import sys, vidtrace; print('vidtrace.scan' in sys.modules, callable(vidtrace.open_store), 'vidtrace.scan' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]
