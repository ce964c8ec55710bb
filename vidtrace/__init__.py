"""vidtrace: find re-uploads of the same video across accounts and the accounts that move together.

    import vidtrace
    with vidtrace.open_store("case-store") as case:
        case.ingest("downloads/")

See `vidtrace.api` for the calls (`open_store`, `Case`).
"""

__version__ = "0.1.0"

__all__ = ["Case", "Placement", "__version__", "open_store"]


def __getattr__(name: str):
    # Loaded on first use: `import vidtrace` (and the command line's start-up) stays light.
    if name in ("open_store", "Case", "Placement"):
        from vidtrace import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidtrace' has no attribute {name!r}")
