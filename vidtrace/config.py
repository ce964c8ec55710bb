"""The case file: `vidtrace.toml` in the working folder (or named by `--config`).

    store = "case-store"              # relative to this file's folder
    db = "postgresql+psycopg://analyst@db/case42"
    progress_interval_s = 60          # without a terminal: one progress line a minute

    [coordination]                    # defaults for a command's options (flag names, - or _)
    window = "30m"
    min-accounts = 3

    [ingest]
    workers = 2

A flag wins over an environment variable, which wins over this file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vidtrace.errors import UsageError

CONFIG_FILENAME = "vidtrace.toml"
_TOP_KEYS: dict[str, type | tuple[type, ...]] = {"store": str, "db": str, "progress_interval_s": (int, float)}


@dataclass(frozen=True)
class CaseConfig:
    path: Path | None = None  # None: no case file
    store: str | None = None  # absolute
    db: str | None = None
    progress_interval_s: float | None = None
    #: command name -> {parameter name: default}
    defaults: dict[str, dict] = field(default_factory=dict)


def find_config(explicit: str | Path | None, cwd: Path) -> Path | None:
    """The case file named by `--config`, else `vidtrace.toml` in `cwd` when there is one."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"config file {path} not found")
        return path
    path = cwd / CONFIG_FILENAME
    return path if path.is_file() else None


def load_config(explicit: str | Path | None = None, cwd: Path | None = None) -> CaseConfig:
    path = find_config(explicit, cwd or Path.cwd())
    if path is None:
        return CaseConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read config file {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path}: not valid TOML ({e})") from e
    values: dict = {}
    defaults: dict[str, dict] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            defaults[key] = {k.replace("-", "_"): v for k, v in value.items()}
        elif key in _TOP_KEYS:
            if not isinstance(value, _TOP_KEYS[key]) or isinstance(value, bool):
                raise UsageError(
                    f"config file {path}: {key} = {value!r} is not a {'number' if key.endswith('_s') else 'string'}"
                )
            values[key] = value
        else:
            raise UsageError(
                f"config file {path}: unknown setting {key!r} (known: {', '.join(_TOP_KEYS)}, or a [command] table)"
            )
    store = values.get("store")
    if store is not None:
        store = str((path.parent / Path(store).expanduser()).absolute())
    interval = values.get("progress_interval_s")
    if interval is not None and interval < 0:
        raise UsageError(f"config file {path}: progress_interval_s must be 0 or more")
    return CaseConfig(path.absolute(), store, values.get("db"), interval, defaults)
