"""yt-dlp sidecars: the `<name>.info.json` that `yt-dlp --write-info-json` writes beside each video.

A file that no manifest row describes takes its posting from its sidecar, when there is one:

- account: the platform is the extractor's key (`extractor_key`, e.g. `Youtube`, `TikTok`; else
  `extractor`), the handle the uploader's id (`uploader_id`, else `channel_id`, else `uploader`);
- upload time: `timestamp` (Unix seconds, UTC), else `upload_date` (`YYYYMMDD`, taken as
  midnight UTC); either is the platform's posting time, stored like a manifest's;
- URL: `webpage_url` (else `original_url`); title: `title`.

A sidecar that cannot be read or parsed is reported (the file keeps its folder's account).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

from vidtrace.discover import Candidate, Problem, path_text

#: Suffix yt-dlp gives the info file (`--write-info-json`).
SIDECAR_SUFFIX = ".info.json"
#: Sidecars larger than this are not read (bytes): yt-dlp's run to a few MB with every format.
MAX_SIDECAR_BYTES = 64 * 1024 * 1024
#: Longest text kept from a sidecar field (characters), as for manifests.
MAX_FIELD_CHARS = 4096


def sidecar_of(video: Path) -> Path | None:
    """`clip.info.json` (yt-dlp's naming) or `clip.mp4.info.json` beside `video`, if present."""
    for candidate in (video.with_name(video.stem + SIDECAR_SUFFIX), video.with_name(video.name + SIDECAR_SUFFIX)):
        if candidate.is_file():
            return candidate
    return None


def _text(info: dict, *keys: str) -> str | None:
    for key in keys:
        value = info.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value).strip()
            if text and "\x00" not in text and len(text) <= MAX_FIELD_CHARS:
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    continue
                return text
    return None


def posting_time(info: dict) -> dt.datetime | None:
    """`timestamp` (Unix seconds), else `upload_date` (YYYYMMDD, midnight UTC); None when neither
    is usable."""
    stamp = info.get("timestamp")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        try:
            return dt.datetime.fromtimestamp(stamp, dt.UTC)
        except (OverflowError, OSError, ValueError):
            pass
    day = info.get("upload_date")
    if isinstance(day, str) and len(day) == 8 and day.isdigit():
        try:
            return dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    return None


def read_sidecar(path: Path) -> dict:
    """The sidecar's JSON object; raises ValueError with the reason when it is not one."""
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES // (1024 * 1024)} MB; not read")
        info = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise ValueError((e.strerror or str(e)).lower()) from e
    except UnicodeDecodeError as e:
        raise ValueError("not UTF-8 text") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at line {e.lineno})") from e
    if not isinstance(info, dict):
        raise ValueError("not a JSON object")
    return info


def describe(candidate: Candidate, problems: list[Problem]) -> tuple[Candidate, bool]:
    """The candidate with its sidecar's account, time, URL and title (True), or unchanged (False:
    no sidecar, or one that could not be read, reported in `problems`)."""
    sidecar = sidecar_of(Path(candidate.path))
    if sidecar is None:
        return candidate, False
    try:
        info = read_sidecar(sidecar)
    except ValueError as e:
        problems.append(Problem(path_text(sidecar), f"yt-dlp sidecar unusable: {e}"))
        return candidate, False
    platform = _text(info, "extractor_key", "extractor")
    handle = _text(info, "uploader_id", "channel_id", "uploader", "channel")
    changes: dict = {}
    if handle is not None:
        changes.update(account=handle, platform=platform or "")
    if (when := posting_time(info)) is not None:
        changes["uploaded_at"] = when
    if (url := _text(info, "webpage_url", "original_url")) is not None:
        changes["url"] = url
    if (title := _text(info, "title", "fulltitle")) is not None:
        changes["title"] = title
    if not changes:
        return candidate, False
    return replace(candidate, **changes), True


def describe_all(candidates: list[Candidate], problems: list[Problem]) -> tuple[list[Candidate], int]:
    """Every candidate described by its sidecar where it has one; and how many were."""
    described, count = [], 0
    for c in candidates:
        c, used = describe(c, problems)
        described.append(c)
        count += used
    return described, count


def single_file(path: Path, account: str | None) -> tuple[list[Candidate], list[Problem], int]:
    """A file given on its own: one upload of `account` when given, else of its sidecar's
    account, else of its folder's name; the problems; 1 when its sidecar described it."""
    path = Path(path).absolute()
    problems: list[Problem] = []
    if not path.is_file():
        return [], [Problem(path_text(path), "not found or not a file")], 0
    if account is not None:
        return [Candidate(path=path, account=account)], problems, 0
    candidate, used = describe(Candidate(path=path, account=path_text(path.parent.name) or None), problems)
    return [candidate], problems, int(used)
