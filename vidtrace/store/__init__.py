"""Storage: SQLAlchemy models, the database connection and the queries.

ORM rows never leave this package: callers get plain dataclasses.
"""
