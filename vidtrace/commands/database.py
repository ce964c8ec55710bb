"""`db upgrade` and `db current`: the database's schema migrations."""

from __future__ import annotations

import click

from vidtrace.commands.options import VidtraceGroup
from vidtrace.store import db


@click.group(name="db", cls=VidtraceGroup)
def db_group():
    """Database migrations.

    \b
    Example:
      vidtrace db upgrade
    """


@db_group.command()
@click.pass_context
def upgrade(ctx):
    """Migrate the database to the newest schema.

    \b
    Example:
      vidtrace --db postgresql+psycopg://user@host/vidtrace db upgrade
    """
    engine = db.make_engine(ctx.obj.location)
    ctx.call_on_close(engine.dispose)
    db.upgrade(engine)
    click.echo(f"database at revision {db.current_revision(engine)}")


@db_group.command()
@click.pass_context
def current(ctx):
    """Show the database's schema revision and the newest one.

    \b
    Example:
      vidtrace db current
    """
    location = ctx.obj.location
    if not location.exists():
        click.echo(f"no database at {location.root} (newest revision: {db.head_revision()})")
        return
    engine = db.make_engine(location, read_only=True)
    ctx.call_on_close(engine.dispose)
    click.echo(f"current: {db.current_revision(engine) or 'none'}  newest: {db.head_revision()}")
