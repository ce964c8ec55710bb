"""One record of a fingerprint file (`vidtrace.exchange`), checked field by field.

A partner's file is untrusted input: every field is checked for type and range before anything
is stored, and a record that fails raises `BadRecord` with the reason (reported and skipped).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from vidtrace.discover import parse_time
from vidtrace.fingerprint import REGION_FRAME, REGION_LAST
from vidtrace.hashes import from_hex
from vidtrace.settings import HASH_ALGORITHM, HASH_SIZE, HASH_VERSION, HASH_WINDOW_S
from vidtrace.sound import SOUND_ALGORITHM, SOUND_STEP_S, SOUND_VERSION, SoundPrint
from vidtrace.spec import MAX_HASHES_PER_S
from vidtrace.store import repo

HASH_BYTES = HASH_SIZE * HASH_SIZE // 8
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX_HASH = re.compile(rf"[0-9a-fA-F]{{{2 * HASH_BYTES}}}")

# What an imported record may hold. A partner's file is untrusted input: every field is checked
# for type and range before anything is stored, and a record that fails is reported and skipped.
#: Longest video accepted (s): a week of footage; more is a broken or forged record.
MAX_DURATION_S = 7 * 86400.0
#: A stated duration may fall short of the last frame's time by one hash window (the last hash
#: covers the half second after its instant); a shorter one is refused, since it would inflate
#: every score computed against the video (matched seconds over the shorter duration).
DURATION_SLACK_S = HASH_WINDOW_S
MAX_FPS = 1000.0
MAX_SIDE_PX = 65_535
MAX_UPLOADS = 10_000
#: Longest account name (bytes of UTF-8): longer is a forged record, not a handle.
MAX_ACCOUNT_BYTES = 1024
#: Longest URL or title (characters), as for manifests.
MAX_TEXT_CHARS = 4096
MAX_PLATFORM_CHARS = 64
MAX_FILE_NAME_BYTES = 255


class BadRecord(ValueError):
    """A video record that cannot be imported; the message says why."""


def _number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRecord(f"{name} must be a number, not {_kind(value)}")
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRecord(f"{name} {value!r} is out of range ({low:g} to {high:g})")
    return float(value)


def _whole(value, name: str, low: int, high: int) -> int:
    number = _number(value, name, low, high)
    if number != int(number):
        raise BadRecord(f"{name} {value!r} is not a whole number")
    return int(number)


def _text(value, name: str, max_chars: int | None = None, max_bytes: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{name} must be text or null, not {_kind(value)}")
    if "\x00" in value:
        raise BadRecord(f"{name} contains a NUL byte")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise BadRecord(f"{name} is not valid Unicode text (a lone surrogate)") from e
    if max_chars is not None and len(value) > max_chars:
        raise BadRecord(f"{name} is longer than {max_chars} characters")
    if max_bytes is not None and size > max_bytes:
        raise BadRecord(f"{name} is longer than {max_bytes} bytes")
    return value


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def video_of(record) -> repo.VideoExport:
    """The record as a video to store; raises BadRecord with the reason when any field is wrong."""
    if not isinstance(record, dict):
        raise BadRecord(f"a record must be a JSON object, not {_kind(record)}")
    sha = record.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise BadRecord("sha256 must be 64 lowercase hex digits")
    raw_frames = record.get("frames")
    if not isinstance(raw_frames, list) or not raw_frames:
        raise BadRecord("frames must be a non-empty list")
    frames = []
    for n, f in enumerate(raw_frames):
        if not isinstance(f, list) or len(f) not in (2, 3):
            raise BadRecord(f"frames[{n}] must be [seconds, hex hash] or [seconds, hex hash, region]")
        ts = _number(f[0], f"frames[{n}] time", 0.0, MAX_DURATION_S)
        if not isinstance(f[1], str) or not _HEX_HASH.fullmatch(f[1]):
            raise BadRecord(f"frames[{n}] hash must be {2 * HASH_BYTES} hex digits ({HASH_BYTES * 8} bits)")
        region = _whole(f[2], f"frames[{n}] region", REGION_FRAME, REGION_LAST) if len(f) > 2 else REGION_FRAME
        frames.append((ts, from_hex(f[1]), region))
    last_ts = max(ts for ts, _, _ in frames)
    duration = record.get("duration_s")
    if duration is None:
        duration_s = last_ts
    else:
        duration_s = _number(duration, "duration_s", 0.0, MAX_DURATION_S)
        if duration_s + DURATION_SLACK_S < last_ts:
            raise BadRecord(f"duration_s {duration_s:g} is shorter than its frames, which run to {last_ts:g} s")
    if len(frames) > MAX_HASHES_PER_S * (duration_s + 1):
        raise BadRecord(f"{len(frames)} frames are more than a video of {duration_s:g} s can have")
    fps = None if record.get("fps") is None else _number(record["fps"], "fps", 0.0, MAX_FPS)
    width = None if record.get("width") is None else _whole(record["width"], "width", 1, MAX_SIDE_PX)
    height = None if record.get("height") is None else _whole(record["height"], "height", 1, MAX_SIDE_PX)
    sound = _sound(record.get("sound"), duration_s)
    return repo.VideoExport(sha, duration_s, fps, width, height, HASH_ALGORITHM, HASH_VERSION, frames, [], sound)


def _sound(value, duration_s: float) -> SoundPrint | None:
    """A record's sound print: None when it has none or was made by another sound algorithm."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRecord("sound must be an object")
    if (value.get("algorithm"), value.get("version")) != (SOUND_ALGORITHM, SOUND_VERSION):
        return None
    step_s = _number(value.get("step_s"), "sound step_s", 0.0, 1.0)
    if abs(step_s - SOUND_STEP_S) > 1e-6:
        raise BadRecord(f"sound step_s {step_s:g} is not {SOUND_STEP_S:.6f} for {SOUND_ALGORITHM} v{SOUND_VERSION}")
    values = value.get("values")
    if not isinstance(values, str) or len(values) % 8 or not re.fullmatch(r"[0-9a-fA-F]*", values):
        raise BadRecord("sound values must be hex digits, 8 per value")
    count = len(values) // 8
    if count > duration_s / SOUND_STEP_S + 2:
        raise BadRecord(f"{count} sound values are more than {duration_s:g} s of sound can have")
    return SoundPrint.from_bytes(bytes.fromhex(values))


@dataclass(frozen=True)
class Upload:
    account: str | None
    platform: str
    uploaded_at: object
    url: str | None
    title: str | None
    file: str | None


def uploads_of(record: dict) -> list[Upload]:
    raw = record.get("uploads")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRecord(f"uploads must be a list, not {_kind(raw)}")
    if len(raw) > MAX_UPLOADS:
        raise BadRecord(f"more than {MAX_UPLOADS} uploads")
    uploads = []
    for n, u in enumerate(raw):
        if not isinstance(u, dict):
            raise BadRecord(f"uploads[{n}] must be an object, not {_kind(u)}")
        when = _text(u.get("uploaded_at"), f"uploads[{n}].uploaded_at", max_chars=64)
        try:
            uploaded_at = parse_time(when) if when else None
        except OverflowError as e:
            raise BadRecord(f"uploads[{n}].uploaded_at {when!r} is out of range") from e
        except ValueError as e:
            raise BadRecord(f"uploads[{n}].uploaded_at {when!r} is not an ISO 8601 time") from e
        uploads.append(
            Upload(
                account=_text(u.get("account"), f"uploads[{n}].account", max_bytes=MAX_ACCOUNT_BYTES) or None,
                platform=_text(u.get("platform"), f"uploads[{n}].platform", max_chars=MAX_PLATFORM_CHARS) or "",
                uploaded_at=uploaded_at,
                url=_text(u.get("url"), f"uploads[{n}].url", max_chars=MAX_TEXT_CHARS),
                title=_text(u.get("title"), f"uploads[{n}].title", max_chars=MAX_TEXT_CHARS),
                file=_text(u.get("file"), f"uploads[{n}].file", max_bytes=MAX_FILE_NAME_BYTES),
            )
        )
    return uploads
