"""The sound print (Chromaprint values from the bundled ffmpeg) and the alignment of sound hits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from vidtrace import sound
from vidtrace.align import FrameHit, align
from vidtrace.decode import ffmpeg_binary
from vidtrace.errors import InputError
from vidtrace.settings import Settings

SETTINGS = Settings()


def melody(notes_per_s: float, seed: float, base_hz: float) -> str:
    """An aevalsrc expression: a tune of pseudo-random notes (two octaves above `base_hz`) that
    never repeats, two voices at different rates."""

    def voice(rate: float, salt: float, hz: float, amp: float) -> str:
        note = f"floor(24*mod(abs(sin(floor(t*{rate})*{salt}))*43758.5453\\,1))"
        return f"{amp}*sin(2*PI*t*{hz}*pow(2\\,{note}/12))"

    return f"aevalsrc={voice(notes_per_s, seed, base_hz, 0.3)}+{voice(notes_per_s * 0.75, seed + 7.1, base_hz * 1.5, 0.2)}:s=22050"


MELODY = melody(4, 12.9898, 220)
#: Another tune (other notes, rate and pitch), for negatives.
OTHER_MELODY = melody(5, 78.233, 196)


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(SETTINGS), "-nostdin", "-v", "error", "-y", *args], check=True)


def make_audio(path: Path, source: str, seconds: float, *extra: str) -> Path:
    ffmpeg("-f", "lavfi", "-i", source, "-t", str(seconds), *extra, "-c:a", "aac", "-b:a", "96k", str(path))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sound")
    melody = make_audio(d / "melody.m4a", MELODY, 20)
    out = {"melody": melody}
    ffmpeg("-i", str(melody), "-c:a", "aac", "-b:a", "48k", "-ar", "48000", str(d / "reencoded.m4a"))
    out["reencoded"] = d / "reencoded.m4a"
    ffmpeg("-ss", "6.3", "-i", str(melody), "-t", "9", "-c:a", "aac", "-b:a", "64k", str(d / "trimmed.m4a"))
    out["trimmed"] = d / "trimmed.m4a"
    ffmpeg("-i", str(melody), "-af", "atempo=1.1", "-c:a", "aac", "-b:a", "64k", str(d / "faster.m4a"))
    out["faster"] = d / "faster.m4a"
    out["other"] = make_audio(d / "other.m4a", OTHER_MELODY, 20)
    out["silence"] = make_audio(d / "silence.m4a", "anullsrc=r=44100:cl=mono", 12)
    out["hum"] = make_audio(d / "hum.m4a", "aevalsrc=0.2*sin(2*PI*60*t)+0.1*sin(2*PI*120*t):s=22050", 12)
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(d / "mute.mp4"),
    )
    out["mute"] = d / "mute.mp4"
    return out


def prints(clips, *names):
    return [sound.sound_print(clips[n], SETTINGS) for n in names]


def match(a: sound.SoundPrint, b: sound.SoundPrint):
    dur = lambda p: len(p) * p.step_s + sound.VALUE_SPAN_S  # noqa: E731
    return sound.align_values(a.values, dur(a), b.values, dur(b), sound.brute_hits(a.values, b.values), SETTINGS)


def test_values_come_about_eight_a_second_and_change_with_the_sound(clips):
    (p,) = prints(clips, "melody")
    assert p.algorithm == sound.SOUND_ALGORITHM and p.step_s == pytest.approx(4096 / 3 / 11025)
    # one value per step, less the last two seconds that the last value sums
    assert abs(len(p) - (20 - sound.VALUE_SPAN_S) / p.step_s) < 8
    assert len(np.unique(p.values)) > 0.9 * len(p)
    assert sound.SoundPrint.from_bytes(p.to_bytes()).values.tolist() == p.values.tolist()


def test_a_file_without_audio_has_no_sound_print(clips):
    assert sound.sound_print(clips["mute"], SETTINGS) is None


def test_a_file_that_is_not_media_fails_with_a_reason(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="sound print failed"):
        sound.sound_print(junk, SETTINGS)


def test_a_reencoded_soundtrack_aligns_whole(clips):
    a, b = prints(clips, "melody", "reencoded")
    found = match(b, a)
    assert found is not None and found.score > 0.95
    (seg,) = found.segments
    assert seg.speed == 1.0 and abs(seg.r_start - seg.q_start) < 0.3


def test_a_trimmed_soundtrack_aligns_at_its_offset(clips):
    a, t = prints(clips, "melody", "trimmed")
    found = match(t, a)
    assert found is not None and found.score > 0.9
    seg = found.segments[0]
    assert seg.r_start - seg.q_start == pytest.approx(6.3, abs=0.3)


def test_a_faster_soundtrack_aligns_with_its_speed(clips):
    a, f = prints(clips, "melody", "faster")
    found = match(f, a)
    assert found is not None and found.matched_s > 10
    assert found.segments[0].speed == pytest.approx(1.1, abs=0.03)


def test_different_sound_silence_and_hum_match_nothing(clips):
    melody, other, silence, hum = prints(clips, "melody", "other", "silence", "hum")
    assert match(other, melody) is None
    # silence and a hum repeat one value: held, no evidence of when, even against themselves
    assert len(np.unique(silence.values)) <= 2 and len(np.unique(hum.values)) <= 2
    for p in (silence, hum):
        assert match(p, p) is None
        assert match(p, melody) is None


def test_first_and_last_third_of_one_soundtrack_do_not_match(clips):
    (p,) = prints(clips, "melody")
    k = len(p) // 3
    first, last = sound.SoundPrint(p.values[:k]), sound.SoundPrint(p.values[-k:])
    assert match(first, last) is None


def test_value_rows_are_big_endian_bytes_of_each_value():
    rows = sound.value_rows(np.array([0x01020304, 0xFFFFFFFF], dtype=np.uint32))
    assert rows.tolist() == [[1, 2, 3, 4], [255, 255, 255, 255]]


def test_a_soundtrack_too_short_for_the_usual_minimum_matches_when_all_its_values_agree(clips):
    (p,) = prints(clips, "other")  # a tune without repeated passages (a repeat is no evidence of when)
    start = 40
    for n in (4, 7, sound.SOUND_MIN_SEGMENT_VALUES - 1):
        short = sound.SoundPrint(p.values[start : start + n].copy())
        found = match(short, p)
        assert found is not None, n
        (seg,) = found.segments
        assert seg.r_start - seg.q_start == pytest.approx(start * p.step_s, abs=0.2)
        # seen from the long side too
        assert match(p, short) is not None


def test_a_short_soundtrack_with_one_value_off_or_fewer_than_four_values_matches_nothing(clips):
    (p,) = prints(clips, "melody")
    start, n = 40, 6
    values = p.values[start : start + n].copy()
    values[2] ^= np.uint32(0xFFFF)  # 16 bits flipped: no longer near its original
    assert match(sound.SoundPrint(values), p) is None
    assert match(sound.SoundPrint(p.values[start : start + 3].copy()), p) is None
    assert sound.required_values(3, 500) == sound.SOUND_MIN_SHORT_VALUES
    assert sound.required_values(500, 500) == sound.SOUND_MIN_SEGMENT_VALUES


def test_a_short_excerpt_of_another_tune_held_or_not_matches_nothing(clips):
    melody, other, silence = prints(clips, "melody", "other", "silence")
    for start in range(0, len(other) - 6, 5):
        assert match(sound.SoundPrint(other.values[start : start + 6].copy()), melody) is None
    assert match(sound.SoundPrint(silence.values[:6].copy()), melody) is None
    # a short print of silence is too short to be seen as held: it is still no evidence
    short_silences = sound.SoundPrint(silence.values[:5].copy()), sound.SoundPrint(silence.values[:17].copy())
    assert match(*short_silences) is None and match(*reversed(short_silences)) is None
    # a held value is no evidence, even where it agrees with the other soundtrack
    held = np.repeat(melody.values[40:41], 6)
    assert match(sound.SoundPrint(held), sound.SoundPrint(np.concatenate([melody.values, held]))) is None


def test_values_piled_on_a_soundtrack_start_do_not_reject_its_alignment():
    # A dub of a 3.1 s clip against a copy whose sound starts after 3 s of silence (real values):
    # values summing the first seconds of sound all match the dub's first value, steps no speed
    # explains. The pictures' slope rule does not apply to sound.
    hits = [
        FrameHit(float(q), float(r), int(d))
        for q, r, d in (
            (2.23, 0.0, 6), (2.72, 0.0, 6), (2.85, 0.0, 3), (2.97, 0.0, 0),
            (3.10, 0.12, 1), (3.22, 0.25, 2), (3.34, 0.37, 0), (3.47, 0.37, 4),
        )
    ]  # fmt: skip
    found = align(hits, 21.0, 3.12, sound.sound_settings(Settings(), 5))
    assert found is not None
    (segment,) = found.segments
    assert segment.speed == 1.0 and abs(segment.q_start - segment.r_start - 2.97) < 0.01
