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


def test_objects_made_before_the_work_are_left_out_of_collections(tmp_path):
    """Once a command has its store open, what exists (modules, the store) is frozen: the garbage
    collector's passes, and the passes at exit, no longer walk it."""
    code = (
        "import gc\n"
        "from vidtrace.commands.main import cli\n"
        f"store = ['--store', {str(tmp_path / 's')!r}, '--quiet']\n"
        "cli.main(args=[*store, 'db', 'upgrade'], prog_name='vidtrace', standalone_mode=False)\n"
        "before = gc.get_freeze_count()\n"
        "cli.main(args=[*store, 'matches'], prog_name='vidtrace', standalone_mode=False)\n"
        "print(before, gc.get_freeze_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(int, done.stdout.split()[-2:])
    assert before == 0
    assert after > 10_000  # the imported modules' objects at least
