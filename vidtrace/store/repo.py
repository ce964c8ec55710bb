"""Queries. Sessions go in, plain dataclasses come out; ORM rows stay inside the store.

One module per concept: `scans`, `videos` (and accounts), `uploads`, `frames`, `sounds`,
`matches` and `exports`; this module offers all of their names, and the records they hand out
(`vidtrace.results.records`), in one place.

Several writers may share one PostgreSQL database. Rows with a natural key (accounts, videos by
SHA-256, uploads by path and account, matches by video pair, segments) are written with
INSERT ... ON CONFLICT, so a row another writer stored first is used, never duplicated and never
an IntegrityError; videos waiting to be matched are claimed with FOR NO KEY UPDATE SKIP LOCKED.
On SQLite the store's writer lock already admits one writer at a time.
"""

# The names of the query modules, offered here.
# ruff: noqa: F401
from vidtrace.results.records import (
    MatchLink,
    MatchRecord,
    ScanRecord,
    SegmentRecord,
    UploadRecord,
    VideoExport,
    VideoRecord,
)
from vidtrace.store.exports import add_imported_video, replace_imported_fingerprint, videos_for_export
from vidtrace.store.frames import (
    first_frame_ids,
    frame_codes,
    frame_codes_of_videos,
    frame_columns,
    frame_coverage,
    frames_of_video,
    frames_of_videos,
)
from vidtrace.store.matches import (
    MATCH_ORDER_LOCK,
    add_match,
    claim_video_to_match,
    count_matched_by_older_rules,
    count_videos_to_match,
    delete_matches,
    list_matches,
    lock_match_order,
    mark_matched,
    mark_unmatched,
    match_links,
    match_time_lines,
    matched_after,
    matches_of_video,
    unmatch_older_rules,
)
from vidtrace.store.scans import (
    add_cluster_merges,
    cluster_merges,
    count_videos_created,
    finish_scan,
    known_sources,
    previous_scan,
    set_scan_counts,
    start_scan,
    table_counts,
)
from vidtrace.store.sounds import set_sound_print, sound_coverage, sound_print_of_video, sound_rows
from vidtrace.store.sql import IN_CHUNK, utcnow
from vidtrace.store.uploads import (
    IMPORT_PATH_PREFIX,
    add_upload,
    dated_uploads,
    file_time_uploads,
    find_upload,
    live_uploads,
    update_upload,
    uploads_of_video_by_account,
    uploads_of_videos,
)
from vidtrace.store.videos import (
    account_id,
    add_accounts,
    add_video,
    insert_video,
    ok_video_ids,
    older_fingerprints,
    replace_fingerprint,
    replace_frames,
    video_by_sha,
    videos_by_id,
)
