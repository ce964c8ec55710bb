#!/usr/bin/env bash
# The demo: installs vidtrace into .venv (first run only), then ingests the fixture clips through
# their manifest into a fresh store (SQLite + FAISS index in ./demo-store), lists the matches and
# looks up one suspect clip.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/vidtrace ]; then
    echo "== installing vidtrace into .venv" >&2
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
fi
export VIDTRACE_STORE="$PWD/demo-store"
rm -rf "$VIDTRACE_STORE"
vt=.venv/bin/vidtrace

echo "== vidtrace ingest --manifest fixtures/manifest.csv"
time $vt ingest --manifest fixtures/manifest.csv
echo
echo "== vidtrace matches"
$vt matches
echo
echo "== vidtrace lookup fixtures/videos/*/a_trimmed.mp4   (read-only)"
time $vt lookup "$(ls fixtures/videos/*/a_trimmed.mp4 | head -n 1)"
echo
echo "== vidtrace report --html demo-store/report.html"
$vt report --html demo-store/report.html
echo
echo "== vidtrace coordination"
$vt coordination
