"""yt-dlp collections: a folder of downloads with their `.info.json` sidecars is ingested with
the sidecars' accounts, posting times, URLs and titles."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from tests.conftest import db_rows, fixture_clip, run


def info_dict(video_id: str, title: str, uploader_id: str, timestamp: int | None, extractor_key: str = "Youtube",
              upload_date: str | None = None) -> dict:  # fmt: skip
    """An info dict as `yt-dlp --write-info-json` writes it (the keys vidtrace reads, with yt-dlp's
    types, and some it does not)."""
    extractor = extractor_key.lower()
    info = {
        "id": video_id,
        "title": title,
        "fulltitle": title,
        "uploader": uploader_id.lstrip("@").title(),
        "uploader_id": uploader_id,
        "uploader_url": f"https://www.{extractor}.com/{uploader_id}",
        "channel_id": "UC" + video_id * 2,
        "channel": uploader_id.lstrip("@"),
        "duration": 20,
        "view_count": 1234,
        "webpage_url": f"https://www.{extractor}.com/watch?v={video_id}",
        "original_url": f"https://{extractor}.example/{video_id}",
        "webpage_url_domain": f"{extractor}.com",
        "extractor": extractor,
        "extractor_key": extractor_key,
        "ext": "mp4",
        "format_id": "18",
        "formats": [{"format_id": "18", "ext": "mp4", "width": 640, "height": 360}],
        "epoch": 1767225600,
        "_type": "video",
        "_version": {"version": "2025.01.15", "release_git_head": None, "repository": "yt-dlp/yt-dlp"},
    }
    if timestamp is not None:
        info["timestamp"] = timestamp
    info["upload_date"] = upload_date or (
        dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y%m%d") if timestamp is not None else None
    )
    return info


def download(folder: Path, clip: str, info: dict | None, name: str | None = None) -> Path:
    """The clip saved as yt-dlp's default template names it (`TITLE [ID].mp4`), its info beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = name or f"{info['title']} [{info['id']}]"
    video = folder / f"{stem}.mp4"
    shutil.copy(fixture_clip(clip), video)
    if info is not None:
        (folder / f"{stem}.info.json").write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return video


T0 = 1772460180  # 2026-03-02T14:03:00Z


def test_a_yt_dlp_folder_is_ingested_with_its_sidecars_accounts_times_and_urls(tmp_path, store):
    downloads = tmp_path / "downloads"
    download(
        downloads / "case",
        "a_reencoded.mp4",
        info_dict("aaaaaaaaaaa", "THEY don't want you to see this", "@patriot_daily", T0),
    )
    download(
        downloads / "case",
        "a_trimmed.mp4",
        info_dict("bbbbbbbbbbb", "Watch before it is deleted", "@truth_wave", T0 + 360),
    )
    # no timestamp: the upload date (midnight UTC) is the posting time
    download(downloads / "case", "compilation.mp4",
             info_dict("7350000000000000001", "The truth, all of it", "6812345", None, "TikTok", upload_date="20260302"))  # fmt: skip
    download(downloads / "case", "orig_a.mp4", None, name="no sidecar")  # keeps its folder's account, file time
    result = run(store, "ingest", downloads)
    assert result.exit_code == 0, result.stderr
    assert "3 upload(s) took account, time, URL and title from yt-dlp .info.json sidecars" in result.stdout
    rows = db_rows(store, """
        SELECT a.platform, a.handle, u.uploaded_at, u.uploaded_at_source, u.url, u.title, u.path
        FROM uploads u JOIN accounts a ON a.id = u.account_id ORDER BY a.handle""")  # fmt: skip
    by_handle = {r[1]: r for r in rows}
    assert set(by_handle) == {"@patriot_daily", "@truth_wave", "6812345", "case"}
    platform, _, at, source, url, title, _ = by_handle["@patriot_daily"]
    assert (platform, source, url, title) == (
        "Youtube",
        "manifest",
        "https://www.youtube.com/watch?v=aaaaaaaaaaa",
        "THEY don't want you to see this",
    )
    assert at.startswith("2026-03-02 14:03:00")
    assert by_handle["@truth_wave"][2].startswith("2026-03-02 14:09:00")
    tiktok = by_handle["6812345"]
    assert tiktok[0] == "TikTok" and tiktok[2].startswith("2026-03-02 00:00:00") and tiktok[3] == "manifest"
    assert tiktok[4] == "https://www.tiktok.com/watch?v=7350000000000000001"
    assert by_handle["case"][3] == "file_time" and by_handle["case"][4] is None

    # the accounts and times are what coordination sees
    clusters = json.loads(run(store, "clusters", "--json").stdout)
    accounts = {u["account"] for c in clusters["clusters"] for u in c["uploads"]}
    assert {"Youtube:@patriot_daily", "Youtube:@truth_wave", "TikTok:6812345"} <= accounts

    again = run(store, "ingest", downloads)  # nothing new; the sidecars still describe the same uploads
    assert again.exit_code == 0 and "0 new uploads" in again.stdout
    assert len(db_rows(store, "SELECT id FROM uploads")) == 4


def test_a_manifest_row_wins_over_a_sidecar(tmp_path, store):
    folder = tmp_path / "collected"
    video = download(folder, "orig_a.mp4", info_dict("ccccccccccc", "From the sidecar", "@sidecar_account", T0))
    (folder / "manifest.csv").write_text(
        f"path,account,uploaded_at,title\n{video.name},manifest_account,2026-01-01T00:00:00Z,From the manifest\n"
    )
    result = run(store, "ingest", "--manifest", folder / "manifest.csv")
    assert result.exit_code == 0, result.stderr
    assert "sidecar" not in result.stdout
    assert db_rows(store, "SELECT a.handle, u.title FROM uploads u JOIN accounts a ON a.id = u.account_id") == [
        ("manifest_account", "From the manifest")
    ]


def test_a_single_file_takes_its_sidecar_then_its_folder_then_the_given_account(tmp_path, store):
    video = download(tmp_path / "dl", "orig_a.mp4", info_dict("ddddddddddd", "Single", "@single", T0))
    plain = download(tmp_path / "someone", "orig_b.mp4", None, name="plain")
    given = download(tmp_path / "x", "unrelated_c.mp4", None, name="given")
    assert run(store, "ingest", video, plain).exit_code == 0
    assert run(store, "ingest", given, "--account", "@named").exit_code == 0
    handles = {
        r[0]: r[1]
        for r in db_rows(store, "SELECT a.handle, a.platform FROM uploads u JOIN accounts a ON a.id = u.account_id")
    }
    assert handles == {"@single": "Youtube", "someone": "", "@named": ""}


def test_a_broken_sidecar_is_reported_and_the_video_kept(tmp_path, store):
    folder = tmp_path / "dl" / "acct"
    video = download(folder, "orig_a.mp4", info_dict("eeeeeeeeeee", "Fine", "@fine", T0))
    video.with_name(video.stem + ".info.json").write_text('{"id": "eeeeeeeeeee", "title": ')  # a download cut short
    download(folder, "orig_b.mp4", info_dict("fffffffffff", "Other", "@other", T0 + 60))
    result = run(store, "ingest", tmp_path / "dl")
    assert result.exit_code == 1
    assert f"{video.stem}.info.json: yt-dlp sidecar unusable: not valid JSON" in result.stderr
    assert "1 upload(s) took account" in result.stdout
    handles = sorted(
        r[0] for r in db_rows(store, "SELECT a.handle FROM uploads u JOIN accounts a ON a.id = u.account_id")
    )
    assert handles == ["@other", "acct"]  # the video with the broken sidecar is kept, under its folder's account
