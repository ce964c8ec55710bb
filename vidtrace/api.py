"""The Python API: every verb of the command line as a call on an open case.

    import vidtrace
    with vidtrace.open_store("case-store") as case:
        summary = case.ingest("downloads/")
        for m in case.matches(min_score=0.5): ...

The values returned are the dataclasses the command line prints (`ScanSummary`, `LookupResult`,
`MatchRecord`, `coordinate.Cluster`, `networks.Snapshot`); errors are `vidtrace.errors`
exceptions (`UsageError`, `InputError`, `DependencyError`, ...), never exits or prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vidtrace import chance, coordinate, networks
from vidtrace.lookup import LookupResult
from vidtrace.lookup import lookup as _lookup
from vidtrace.progress import Progress, silent
from vidtrace.results.clusters import Placement
from vidtrace.scan import ScanSummary
from vidtrace.scan import ingest as _ingest
from vidtrace.scan import rescan as _rescan
from vidtrace.settings import HASH_ALGORITHM, HASH_VERSION, Settings
from vidtrace.store import db, repo


class Case:
    """An open store (database and index). Close it (or use `with`) to release connections."""

    def __init__(self, store: db.Store, settings: Settings | None = None):
        self.store = store
        self.settings = settings or Settings.from_env()

    # --- writing ---------------------------------------------------------------------------

    def ingest(
        self, *paths: str | Path, manifest: str | Path | None = None, workers: int = 1, account: str | None = None,
        progress: Progress = silent, scheduler: str | None = None,
    ) -> ScanSummary:  # fmt: skip
        """Add folders (accounts from ROOT/<account>/...), single files (account: `account`, else
        their yt-dlp sidecar's, else their folder's name) and a manifest's uploads; fingerprint
        new videos and match them."""
        return _ingest(
            self.store, [Path(p) for p in paths], Path(manifest) if manifest is not None else None, self.settings,
            workers, progress, scheduler, account,
        )  # fmt: skip

    def rescan(self, workers: int = 1, progress: Progress = silent, scheduler: str | None = None) -> ScanSummary:
        """Re-walk every folder, file and manifest ingested before: add new, mark gone, match."""
        return _rescan(self.store, self.settings, workers, progress, scheduler)

    # --- reading ---------------------------------------------------------------------------

    def lookup(self, path: str | Path, top: int | None = None, progress: Progress = silent) -> LookupResult:
        """Read-only: the stored videos sharing segments with the file at `path`, best first."""
        return _lookup(self.store, Path(path), self.settings, top, progress)

    def matches(self, min_score: float = 0.0) -> list[repo.MatchRecord]:
        """Every stored match (score at least `min_score`) with its segments."""
        with self.store.session() as session:
            return repo.list_matches(session, min_score)

    def older_fingerprints(self) -> dict[tuple[bool, int], int]:
        """Stored videos hashed by an older version of this algorithm: {(imported, version): count}."""
        with self.store.session() as session:
            return repo.older_fingerprints(session, HASH_ALGORITHM, HASH_VERSION)

    def uploads(self, video_ids: Sequence[int]) -> dict[int, list[repo.UploadRecord]]:
        """The uploads (account, path, time, URL, title) of each video."""
        with self.store.session() as session:
            return dict(repo.uploads_of_videos(session, set(video_ids)))

    def clusters(self) -> list[coordinate.Cluster]:
        """Content clusters: videos that are copies of one content (compilations join each)."""
        with self.store.session() as session:
            return networks.clusters(session)

    def coordination(
        self, window_s: float | None = None, min_accounts: int = coordinate.MIN_ACCOUNTS,
        min_clusters: int = coordinate.MIN_SHARED_CLUSTERS, fdr: float = chance.FDR, file_times: bool = False,
    ) -> networks.Snapshot:  # fmt: skip
        """Clusters, posting events, the window, coordinated groups (ranked) and amplifiers."""
        with self.store.session() as session:
            return networks.snapshot(session, window_s, min_accounts, min_clusters, file_times, fdr)

    def placement(self, video_ids: Sequence[int], snapshot: networks.Snapshot | None = None) -> dict[int, Placement]:
        """Each video's clusters and the ranks of the coordinated groups that posted them."""
        snap = snapshot if snapshot is not None else self.coordination()
        return placement(snap, video_ids)

    # --- life cycle ------------------------------------------------------------------------

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def placement(snap: networks.Snapshot, video_ids: Sequence[int]) -> dict[int, Placement]:
    """Each video's clusters in `snap`, and the ranks of the groups that co-posted any of them."""
    of_video = coordinate.clusters_by_video(snap.clusters)
    out = {}
    for video in video_ids:
        clusters = tuple(sorted(of_video.get(video, [])))
        groups = tuple(rank for rank, g in enumerate(snap.groups, start=1) if set(g.clusters) & set(clusters))
        out[video] = Placement(clusters, groups)
    return out


def open_store(
    store: str | Path | None = None, db_url: str | None = None, create: bool = True, settings: Settings | None = None
) -> Case:
    """Open (by default create) the store in folder `store` (else VIDTRACE_STORE, else
    ./vidtrace-store), its SQL at `db_url` when given (e.g. PostgreSQL)."""
    location = db.StoreLocation.resolve(store, db_url)
    return Case(db.Store.open(location, create=create), settings)
