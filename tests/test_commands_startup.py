"""The command line starts without the decoding and scanning stack: help needs none of it."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("cv2", "vidtrace.fingerprint", "vidtrace.scan")


@pytest.mark.parametrize(
    "args", [["--help"], ["ingest", "--help"], ["lookup", "--help"], ["doctor", "--help"]], ids=" ".join
)
def test_help_loads_no_decoder(args):
    code = (
        "import sys\n"
        "from vidtrace.commands.main import cli\n"
        "try:\n"
        f"    cli.main(args={args!r}, prog_name='vidtrace')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"print(*[m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Example" in done.stdout
    assert done.stdout.splitlines()[-1].split() == []
