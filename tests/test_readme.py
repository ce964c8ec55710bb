"""The README's quick start: its first command (`bash demo.sh`) prints what the README says it prints.

The demo runs in a copy of `demo.sh` and `fixtures/` in a temporary folder, where `.venv/bin/vidtrace` is a
launcher for this interpreter's vidtrace: the script's install step (skipped when that file exists) does not run,
and the rest of it runs unchanged. Every section of the output the README shows (`== vidtrace ...` and the lines
up to the next one) must equal the demo's, character for character. Nothing on stdout varies from run to run:
the wall times (`time`) and the timestamped progress lines go to stderr, which is not compared, and the paths
printed are relative to the demo's folder.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHOWN = ("== vidtrace ingest", "== vidtrace lookup", "== vidtrace coordination")  # at least these must be shown

LAUNCHER = """#!/bin/sh
exec {python} -c 'import sys; sys.argv[0] = "vidtrace"; from vidtrace.commands.main import main; main()' "$@"
"""


def _quick_start_blocks() -> list[str]:
    """The fenced blocks of the README's "Quick start" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Quick start' section"
    return re.findall(r"^```[^\n]*\n(.*?)^```", section.group(1), re.S | re.M)


def _sections(text: str) -> dict[str, str]:
    """`== ...` header line -> the lines after it up to the next header, trailing blank lines dropped."""
    found: dict[str, str] = {}
    header = None
    for line in text.splitlines():
        if line.startswith("== "):
            header = line.rstrip()
            found[header] = ""
        elif header is not None:
            found[header] += line.rstrip() + "\n"
    return {h: body.rstrip("\n") for h, body in found.items()}


def test_demo_prints_what_the_readme_shows(tmp_path):
    blocks = _quick_start_blocks()
    first = blocks[0].splitlines()[0].split("#")[0]
    assert shlex.split(first) == ["bash", "demo.sh"], f"the quick start's first command changed: {first!r}"
    shown = {}
    for block in blocks[1:]:
        shown.update(_sections(block))
    assert all(any(h.startswith(s) for h in shown) for s in SHOWN), sorted(shown)

    videos = sorted((ROOT / "fixtures" / "videos").rglob("*.mp4"))
    assert videos, "fixture clips missing: run python fixtures/generate.py"
    shutil.copy(ROOT / "demo.sh", tmp_path / "demo.sh")
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures", ignore=shutil.ignore_patterns("__pycache__"))
    launcher = tmp_path / ".venv" / "bin" / "vidtrace"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(LAUNCHER.format(python=shlex.quote(sys.executable)), encoding="utf-8")
    launcher.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDTRACE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        ["bash", "demo.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "installing" not in done.stderr

    printed = _sections(done.stdout)
    assert [h for h in printed if h in shown] == list(shown), f"sections printed: {list(printed)}"
    for header, body in shown.items():
        assert printed[header] == body, f"{header}\n--- README\n{body}\n--- demo\n{printed[header]}"
