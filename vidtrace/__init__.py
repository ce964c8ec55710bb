"""vidtrace: find re-uploads of the same video across accounts and the accounts that move together."""

__version__ = "0.1.0"
