"""The result types live in `vidtrace.results`; rendering, storage and coordination stay light."""

import subprocess
import sys

import pytest


def _loaded(modules: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules among `prefixes` that importing `modules` loads, in a fresh interpreter."""
    code = (
        f"import sys\nimport {modules}\nprint(' '.join(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.mark.parametrize("module", ["vidtrace.results", "vidtrace.report", "vidtrace.html_report", "vidtrace.text"])
def test_rendering_imports_no_pipeline(module):
    heavy = ("cv2", "faiss", "sqlalchemy", "numpy", "vidtrace.align", "vidtrace.fingerprint", "vidtrace.index",
             "vidtrace.coordinate", "vidtrace.scan", "vidtrace.lookup", "vidtrace.store")  # fmt: skip
    assert _loaded(module, heavy) == []


def test_store_imports_no_pipeline():
    pipeline = ("cv2", "faiss", "vidtrace.align", "vidtrace.fingerprint", "vidtrace.index", "vidtrace.sound",
                "vidtrace.decode", "vidtrace.matching")  # fmt: skip
    assert _loaded("vidtrace.store.repo", pipeline) == []


@pytest.mark.parametrize("module", ["vidtrace.coordinate", "vidtrace.clustering", "vidtrace.coposts"])
def test_coordination_is_pure(module):
    assert _loaded(module, ("sqlalchemy", "cv2", "click", "faiss", "vidtrace.store")) == []


def test_old_names_are_the_result_types():
    from vidtrace import align, coordinate, index, lookup, matching, networks, results, scan, signals
    from vidtrace.store import repo

    assert (align.Segment, align.Alignment, align.FrameHit) == (results.Segment, results.Alignment, results.FrameHit)
    assert (matching.VideoMatch, signals.SignalMatch) == (results.VideoMatch, results.SignalMatch)
    assert (lookup.LookupResult, lookup.LookupMatch) == (results.LookupResult, results.LookupMatch)
    assert (scan.ScanSummary, scan.Failure) == (results.ScanSummary, results.Failure)
    assert (repo.MatchRecord, repo.UploadRecord) == (results.MatchRecord, results.UploadRecord)
    assert repo.VideoRecord is results.VideoRecord
    assert index.Coverage is results.Coverage
    assert (coordinate.Cluster, coordinate.Group) == (results.Cluster, results.Group)
    assert networks.Snapshot is results.Snapshot
    assert (signals.COPY, signals.PICTURES, signals.SAME_SOUNDTRACK) == ("copy", "pictures", "same soundtrack")


def test_swapped_alignment_round_trip():
    from vidtrace.results import SLOWED_DOWN, SPED_UP, Alignment, Segment

    a = Alignment((Segment(0.0, 10.0, 5.0, 25.0, 2.0, 10, 3.0, (SPED_UP,)),), 10.0, 0.9)
    b = a.swapped()
    assert b.segments == (Segment(5.0, 25.0, 0.0, 10.0, 0.5, 10, 3.0, (SLOWED_DOWN,)),)
    assert b.matched_s == 20.0 and b.score == 0.9
    assert b.swapped() == a


def test_regions_are_the_fingerprint_regions():
    from vidtrace import fingerprint
    from vidtrace.results import Region

    names = [name for name in vars(fingerprint) if name.startswith("REGION_") and name != "REGION_LAST"]
    stored = {name[len("REGION_") :]: getattr(fingerprint, name) for name in names}
    assert {r.name: r.value for r in Region} == stored
    assert max(Region) == fingerprint.REGION_LAST
