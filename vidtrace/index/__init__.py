"""The indexes of a store: Hamming search over frame hashes and sound values, derived from SQL.

Every frame index satisfies one interface, `Index` (`vidtrace.index.base`):

- `FrameIndex` (`frames`): flat (exact, FAISS) or multihash (`multihash`: multi-index hashing,
  for large stores), the kind chosen by size;
- `ShardedIndex` (`sharded`): several `FrameIndex` shards searched as one.

`coverage` says what an index holds in terms SQL computes too; `sync` keeps a store's index files
in step with SQL (and builds them); `sounds` is the index of the other signal, sound values.
`faiss_binary` is the one module that imports FAISS. File names come from `vidtrace.layout`.

`sync` and `sounds` read the store, so they are imported from their modules
(`from vidtrace.index.sync import synced_index`); the rest is importable from here.
"""

from vidtrace.index.base import FLAT, MULTIHASH, SHARDED, Hit, Index
from vidtrace.index.coverage import Coverage, add_digests, combined_coverage, frame_digest
from vidtrace.index.frames import FLAT_BELOW_SHARE, INDEX_FORMAT, MULTIHASH_FROM_FRAMES, FrameIndex, read_record
from vidtrace.index.multihash import (
    MULTIHASH_EXACT_BITS,
    MULTIHASH_LAYOUTS,
    MULTIHASH_MIN_KEY_BITS,
    MULTIHASH_MIN_TAIL,
    MULTIHASH_TABLE_BYTES_PER_FRAME,
    MULTIHASH_TAIL_SHARE,
    MULTIHASH_TRAIN_SAMPLE,
    choose_layout,
    train_bit_order,
)
from vidtrace.index.sharded import MAX_SHARDS, ShardedIndex, load_index, load_shard, load_sharded, shard_of
from vidtrace.layout import shard_counts, shard_files, shard_path

__all__ = [
    "FLAT", "FLAT_BELOW_SHARE", "INDEX_FORMAT", "MAX_SHARDS", "MULTIHASH", "MULTIHASH_EXACT_BITS",
    "MULTIHASH_FROM_FRAMES", "MULTIHASH_LAYOUTS", "MULTIHASH_MIN_KEY_BITS", "MULTIHASH_MIN_TAIL",
    "MULTIHASH_TABLE_BYTES_PER_FRAME", "MULTIHASH_TAIL_SHARE", "MULTIHASH_TRAIN_SAMPLE", "SHARDED",
    "Coverage", "FrameIndex", "Hit", "Index", "ShardedIndex",
    "add_digests", "choose_layout", "combined_coverage", "frame_digest", "load_index", "load_shard",
    "load_sharded", "read_record", "shard_counts", "shard_files", "shard_of", "shard_path", "train_bit_order",
]  # fmt: skip
