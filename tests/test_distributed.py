"""Fingerprinting on a Dask cluster (a LocalCluster with two worker processes) stores exactly
what a local run stores."""

from __future__ import annotations

import json
import warnings

import pytest

from conftest import MANIFEST, db_rows, run
from test_cli import found_pairs

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            yield cluster.scheduler_address


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
def test_dask_ingest_stores_what_a_local_ingest_stores(scheduler, ingested_store, tmp_path):
    store = tmp_path / "store"
    result = run(store, "ingest", "--manifest", MANIFEST, "--scheduler", scheduler, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["new_videos"] == 6

    query = "SELECT v.sha256, f.ts_s, hex(f.hash) FROM frames f JOIN videos v ON v.id = f.video_id ORDER BY 1, 2"
    assert db_rows(store, query) == db_rows(ingested_store, query)
    local = found_pairs(json.loads(run(ingested_store, "matches", "--json").stdout))
    remote = found_pairs(json.loads(run(store, "matches", "--json").stdout))
    assert remote == local

    again = json.loads(run(store, "ingest", "--manifest", MANIFEST, "--scheduler", scheduler, "--json").stdout)
    assert again["counts"]["new_videos"] == 0 and again["counts"]["new_uploads"] == 0


def test_an_unreachable_scheduler_exits_3(tmp_path):
    result = run(tmp_path / "store", "ingest", "--manifest", MANIFEST, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 3 and "Dask scheduler" in result.stderr
