"""The house rules, checked: lint and format (ruff), types (mypy), import contracts (import-linter, configured in
pyproject.toml), no import cycle, no module over 400 lines, nothing importing the `cli.py` launcher, and rendering
importable without cv2, FAISS or SQLAlchemy. Each checker is also shown to catch a violation planted in a copy.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
MAX_MODULE_LINES = 400
HEAVY = ("cv2", "faiss", "sqlalchemy")  # what rendering must not load
# rendering and the pure stages, each imported on its own
LIGHT_MODULES = ("vidtrace.report", "vidtrace.html_report", "vidtrace.results", "vidtrace.align", "vidtrace.coordinate")
SKIPPED_DIRS = {".venv", "build", "dist", "__pycache__", "node_modules"}

LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"

# Every cycle in the package's import graph (imports inside functions count; `if TYPE_CHECKING:` ones do not),
# one line each: `a -> b -> a`.
CYCLES = """
import grimp, networkx
graph = grimp.build_graph("vidtrace", exclude_type_checking_imports=True, cache_dir=None)
edges = networkx.DiGraph()
for module in graph.modules:
    edges.add_edges_from((module, imported) for imported in graph.find_modules_directly_imported_by(module))
for component in networkx.strongly_connected_components(edges):
    if len(component) > 1:
        cycle = networkx.find_cycle(edges.subgraph(component))
        print(" -> ".join([a for a, _ in cycle] + [cycle[0][0]]))
"""


def _run(args: list[str], cwd: Path, src: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool with this interpreter; `src` first on the import path (the package under test)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _python_files(root: Path):
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if not any(p in SKIPPED_DIRS or p.startswith(".") for p in parts[:-1]):
            yield path


def oversized_modules(package: Path) -> list[str]:
    """Modules of the package longer than MAX_MODULE_LINES, as `path: N lines`."""
    found = []
    for path in _python_files(package):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(package.parent)}: {n} lines")
    return found


def cli_importers(root: Path) -> list[str]:
    """Every import of the top-level launcher `cli` (module level or inside a function), as `path:line`."""
    found = []
    for path in _python_files(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if any(name == "cli" or name.startswith("cli.") for name in names):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def import_cycles(src: Path) -> list[str]:
    """Import cycles in the `vidtrace` package found under `src`."""
    done = _run(["-c", CYCLES], cwd=src, src=src)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def heavy_imports(src: Path, module: str) -> list[str]:
    """Which of HEAVY `import MODULE` loads (read from `python -X importtime`), the package taken from `src`."""
    done = _run(["-X", "importtime", "-c", f"import {module}"], cwd=src, src=src)
    assert done.returncode == 0, done.stderr
    loaded = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            loaded.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return [name for name in HEAVY if name in loaded]


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    """import-linter with the contracts of `src`/pyproject.toml, on the package under `src`."""
    return _run(["-c", LINT_IMPORTS, "--no-cache", "--no-logo"], cwd=src, src=src)


# -- the rules on this tree ------------------------------------------------------------------------------------------


def test_ruff_check():
    done = _run(["-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format():
    done = _run(["-m", "ruff", "format", "--check", "--no-cache", "."], cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy(tmp_path):
    done = _run(["-m", "mypy", "--config-file", str(PYPROJECT), "--cache-dir", str(tmp_path)], cwd=ROOT, src=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_contracts():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " KEPT" in done.stdout and "BROKEN" not in done.stdout


def test_nothing_imports_the_launcher():
    assert cli_importers(ROOT) == []


def test_no_import_cycle():
    assert import_cycles(ROOT) == []


def test_modules_are_small():
    assert oversized_modules(ROOT / "vidtrace") == []


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_rendering_loads_no_heavy_library(module):
    assert heavy_imports(ROOT, module) == []


# -- each checker catches a planted violation ------------------------------------------------------------------------

# file under the copy's package -> code appended to it. Imports inside a function break no run-time import
# (so the copy still imports for the importtime check) yet count for the import graph.
PLANTED = {
    "align.py": "\n\ndef _planted():\n    import sqlalchemy\n",
    "coordinate.py": "\n\ndef _planted():\n    import subprocess\n",
    "html_report.py": "\n\ndef _planted():\n    import vidtrace.commands\n",
    "report.py": "\nimport cv2\n",
    "store/__init__.py": "\n\ndef _planted():\n    import vidtrace.commands\n",
    "fingerprint.py": "\n\ndef _planted():\n    import vidtrace.index\n    import vidtrace.store\n",
    "errors.py": "\n\ndef _planted():\n    import cli\n" + "# filler\n" * MAX_MODULE_LINES,
    "planted_a.py": "import vidtrace.planted_b\n",
    "planted_b.py": "import vidtrace.planted_a\n",
}
# contract-breaking chains import-linter must name: (importer, imported, file the import was planted in)
PLANTED_CHAINS = [
    ("vidtrace.align", "sqlalchemy", "align.py"),
    ("vidtrace.coordinate", "subprocess", "coordinate.py"),
    ("vidtrace.html_report", "vidtrace.commands", "html_report.py"),
    ("vidtrace.report", "cv2", "report.py"),
    ("vidtrace.store", "vidtrace.commands", "store/__init__.py"),
    ("vidtrace.fingerprint", "vidtrace.index", "fingerprint.py"),
    ("vidtrace.fingerprint", "vidtrace.store", "fingerprint.py"),
]


def _line_of(path: Path, statement: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return max(i for i, line in enumerate(lines, 1) if line.strip() == statement)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A copy of the package and pyproject.toml with PLANTED added."""
    src = tmp_path_factory.mktemp("planted")
    shutil.copytree(ROOT / "vidtrace", src / "vidtrace", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PYPROJECT, src / "pyproject.toml")
    for name, code in PLANTED.items():
        with open(src / "vidtrace" / name, "a", encoding="utf-8") as f:
            f.write(code)
    return src


@pytest.fixture(scope="module")
def planted_lint(planted) -> subprocess.CompletedProcess[str]:
    return lint_imports(planted)


def test_planted_contract_breaks_fail(planted_lint):
    assert planted_lint.returncode != 0, planted_lint.stdout


@pytest.mark.parametrize("importer,imported,name", PLANTED_CHAINS, ids=[f"{a}->{b}" for a, b, _ in PLANTED_CHAINS])
def test_planted_contract_break_named(planted, planted_lint, importer, imported, name):
    line = _line_of(planted / "vidtrace" / name, f"import {imported}")
    assert f"{importer} -> {imported} (l.{line})" in planted_lint.stdout, planted_lint.stdout + planted_lint.stderr


def test_planted_launcher_import(planted):
    line = _line_of(planted / "vidtrace" / "errors.py", "import cli")
    assert cli_importers(planted) == [f"vidtrace/errors.py:{line}"]


def test_planted_cycle(planted):
    cycles = import_cycles(planted)
    assert any({"vidtrace.planted_a", "vidtrace.planted_b"} <= set(c.split(" -> ")) for c in cycles), cycles


def test_planted_long_module(planted):
    assert any(line.startswith("vidtrace/errors.py:") for line in oversized_modules(planted / "vidtrace"))


def test_planted_heavy_import(planted):
    assert "cv2" in heavy_imports(planted, "vidtrace.report")


@pytest.fixture
def planted_module(tmp_path) -> Path:
    """errors.py copied beside pyproject.toml, with an unused import, a badly formatted line and a type error."""
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    path = tmp_path / "planted.py"
    code = (ROOT / "vidtrace" / "errors.py").read_text(encoding="utf-8")
    code += "\n\ndef _planted() -> int:\n    import os\n    return { 'not':'a number' }\n"
    path.write_text(code, encoding="utf-8")
    return path


def test_planted_ruff_finding(planted_module):
    done = _run(
        ["-m", "ruff", "check", "--no-cache", "--output-format", "concise", planted_module.name],
        cwd=planted_module.parent,
    )
    line = _line_of(planted_module, "import os")
    assert done.returncode == 1 and f"planted.py:{line}:" in done.stdout and "F401" in done.stdout, done.stdout


def test_planted_format_finding(planted_module):
    done = _run(["-m", "ruff", "format", "--check", "--no-cache", planted_module.name], cwd=planted_module.parent)
    assert done.returncode == 1 and "planted.py" in done.stdout + done.stderr, done.stdout + done.stderr


def test_planted_mypy_error(planted_module):
    done = _run(
        [
            "-m",
            "mypy",
            "--config-file",
            "pyproject.toml",
            "--cache-dir",
            str(planted_module.parent / "c"),
            planted_module.name,
        ],
        cwd=planted_module.parent,
    )
    line = _line_of(planted_module, "return { 'not':'a number' }")
    assert done.returncode == 1 and f"planted.py:{line}: error:" in done.stdout, done.stdout + done.stderr
