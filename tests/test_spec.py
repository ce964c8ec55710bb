"""The fingerprint specification is not a setting; every setting is overridable as documented."""

from __future__ import annotations

from dataclasses import fields

from vidtrace import settings, spec
from vidtrace.settings import Settings


def test_no_setting_changes_a_fingerprint():
    constants = {name.lower() for name in dir(spec) if name.isupper()}
    assert not constants & {f.name for f in fields(Settings)}


def test_every_setting_is_read_from_its_environment_variable(monkeypatch):
    expected = {}
    for f in fields(Settings):
        if isinstance(f.default, bool) or not isinstance(f.default, (int, float)):
            value = "keyframes" if f.name == "decode_mode" else "/opt/ffmpeg"
            monkeypatch.setenv(f"VIDTRACE_{f.name.upper()}", value)
        else:
            value = type(f.default)(f.default + 1)
            monkeypatch.setenv(f"VIDTRACE_{f.name.upper()}", str(value))
        expected[f.name] = value
    read = Settings.from_env()
    assert {name: getattr(read, name) for name in expected} == expected
    assert Settings.from_env(ffmpeg_binary="/usr/bin/ffmpeg").ffmpeg_binary == "/usr/bin/ffmpeg"  # the flag wins


def test_the_specification_cannot_be_overridden(monkeypatch):
    monkeypatch.setenv("VIDTRACE_SAMPLE_FPS", "30")
    monkeypatch.setenv("VIDTRACE_HASH_STEP_S", "1")
    read = Settings.from_env()
    assert read.sample_fps == spec.SAMPLE_FPS and read.hash_interval_s == spec.HASH_STEP_S


def test_older_imports_of_the_specification_still_work():
    for name in ("HASH_ALGORITHM", "HASH_VERSION", "HASH_SIZE", "HASH_WINDOW_S", "SAMPLE_FPS", "INSET_CHUNK_S"):
        assert getattr(settings, name) == getattr(spec, name)
