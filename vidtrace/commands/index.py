"""`vidtrace index build`: rebuild the frame index from the database, whole or as shards."""

from __future__ import annotations

from dataclasses import asdict

import click

from vidtrace.commands.output import emit_json
from vidtrace.index import MAX_SHARDS
from vidtrace.index.sync import build_index
from vidtrace.report import safe_text
from vidtrace.store.db import writer_lock


@click.group(name="index")
def index_group():
    """The frame index: derived from the database, rebuilt on demand.

    \b
    Example:
      vidtrace index build --shards 4
    """


@index_group.command()
@click.option(
    "--shards",
    type=click.IntRange(1, MAX_SHARDS),
    default=None,
    help="Split the index into N shards (frames of video id modulo N).",
)
@click.option(
    "--shard",
    type=click.IntRange(0),
    default=None,
    help="Build only shard K (0 to N-1), e.g. one per machine; copy the files together.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def build(ctx, shards, shard, as_json):
    """Rebuild the frame index from the database: one file, N shards, or one shard of N.

    Lookup and ingest search every shard file in the store folder and rebuild any that is missing
    or does not match the database.

    \b
    Example:
      vidtrace index build
      vidtrace --db postgresql+psycopg://host/vidtrace --store /srv/idx index build --shards 4 --shard 2
    """
    if shard is not None and shards is None:
        raise click.UsageError("--shard needs --shards (the total number of shards)")
    if shard is not None and shard >= shards:
        raise click.UsageError(f"--shard must be between 0 and {shards - 1} for {shards} shards")
    store = ctx.obj.open(create=False)
    with writer_lock(store.location):
        built = build_index(store, shards, shard)
    if as_json:
        emit_json({"shards": shards or 1, "built": [asdict(b) for b in built]})
        return
    for b in built:
        label = "index" if b.shards is None else f"shard {b.shard} of {b.shards}"
        click.echo(f"{label}: {b.frames} frames ({b.kind}) -> {safe_text(b.path)}")
