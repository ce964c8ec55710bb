"""Alembic migrations of the vidtrace store (installed as `vidtrace.migrations`)."""
