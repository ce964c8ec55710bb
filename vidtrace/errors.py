"""Exception types. The library raises these; only the command line turns them into exit codes."""


class VidtraceError(Exception):
    """Base class. `exit_code` is what the command line exits with when this ends a command."""

    exit_code = 1


class UsageError(VidtraceError):
    """The user asked for something impossible (bad flag value, missing store, bad manifest file)."""

    exit_code = 2


class DependencyError(VidtraceError):
    """An external dependency is missing or unreachable (ffmpeg binary, database server)."""

    exit_code = 3


class StoreBusyError(DependencyError):
    """Another writer holds the store."""


class InputError(VidtraceError):
    """One input file cannot be used. Batch commands record it and go on."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
