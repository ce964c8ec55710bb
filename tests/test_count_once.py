"""Clusters and coordination count each upload once: a copy whose score an overlay lowered
joins its source's cluster; one upload in overlapping clusters (a compilation) is one co-post
and one trailing post; an account with one upload is never an amplifier."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg

from conftest import fixture_clip, run


def _manifest(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    """Copies the named fixture clips into `folder` and writes a manifest of (clip, account, time)."""
    lines = ["path,account,uploaded_at"]
    for clip, account, at in rows:
        target = folder / clip
        if not target.exists():
            shutil.copy(fixture_clip(clip), target)
        lines.append(f"{clip},{account},{at}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_a_copy_whose_overlay_lowered_its_score_joins_its_source_cluster(tmp_path):
    # The re-poster's card hides the whole picture for the first 5 s of 15: the rest is a plain
    # re-encode, on the same time line. (A box over the middle 65% leaves hits at 8 to 10 bits,
    # at the edge of the match radius, where a machine's rounding decides how much matches.)
    folder = tmp_path / "case"
    (folder / "source").mkdir(parents=True)
    (folder / "reposter").mkdir()
    shutil.copy(fixture_clip("unrelated_c.mp4"), folder / "source" / "clip.mp4")
    covered = folder / "reposter" / "clip_card.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(folder / "source" / "clip.mp4"),
         "-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=blue@1:t=fill:enable='lt(t,5)'", str(covered)],
        check=True,
    )  # fmt: skip
    store = tmp_path / "store"
    assert run(store, "ingest", folder).exit_code == 0
    matches = json.loads(run(store, "matches", "--json").stdout)["matches"]
    assert len(matches) == 1 and 0.6 <= matches[0]["score"] < 0.8  # the card lowered the score
    document = json.loads(run(store, "clusters", "--json", "--file-times").stdout)
    assert [(c["videos"], c["partial"]) for c in _cores(document)] == [([1, 2], [])]


def _cores(document: dict) -> list[dict]:
    return [{"videos": sorted(c["videos"]), "partial": sorted(c.get("partial", []))} for c in document["clusters"]]


def test_one_upload_in_overlapping_clusters_is_one_co_post(tmp_path):
    # mixer posts the compilation (part of A, part of B) once; poster_y and poster_z post A and B
    # within minutes of it. Only y and z co-posted two contents with distinct uploads.
    manifest = _manifest(tmp_path, [
        ("compilation.mp4", "mixer", "2026-03-02T10:00:00Z"),
        ("orig_a.mp4", "poster_y", "2026-03-02T10:05:00Z"),
        ("orig_b.mp4", "poster_y", "2026-03-02T10:06:00Z"),
        ("a_reencoded.mp4", "poster_z", "2026-03-02T10:07:00Z"),
        ("orig_b.mp4", "poster_z", "2026-03-02T10:08:00Z"),
    ])  # fmt: skip
    store = tmp_path / "store"
    assert run(store, "ingest", "--manifest", manifest).exit_code == 0
    document = json.loads(run(store, "coordination", "--json", "--min-accounts", "2").stdout)
    assert [g["accounts"] for g in document["groups"]] == [["poster_y", "poster_z"]]
    assert json.loads(run(store, "coordination", "--json").stdout)["groups"] == []  # three accounts: none


def test_an_account_with_one_upload_is_never_an_amplifier(tmp_path):
    # A viewer re-posts the compilation a day after the news account posted both of its sources:
    # one upload, in two clusters, trailing the same source by about a day each time.
    manifest = _manifest(tmp_path, [
        ("orig_a.mp4", "news_hub", "2026-03-01T08:00:00Z"),
        ("orig_b.mp4", "news_hub", "2026-03-01T09:00:00Z"),
        ("compilation.mp4", "casual_viewer", "2026-03-02T08:30:00Z"),
    ])  # fmt: skip
    store = tmp_path / "store"
    assert run(store, "ingest", "--manifest", manifest).exit_code == 0
    table = run(store, "coordination")
    assert table.exit_code == 0
    assert "amplifier" not in table.stdout
    assert json.loads(run(store, "coordination", "--json").stdout)["amplifiers"] == []
