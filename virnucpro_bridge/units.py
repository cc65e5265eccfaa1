"""Units of work: input discovery, sharding and cost estimates.

A unit is one input file, or one shard of a file holding more than
``--shard-size`` sequences. Its cost estimate is sequences × mean length
(= total residues) from a streaming scan; nothing else about the file is
known to the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    uid: str  # "rel/path.fa", or "rel/path.fa#2" (0-based shard) when the file has several shards
    path: str  # absolute path of the input file
    rel: str  # path relative to the inputs' common root; names outputs
    shard: int  # 0-based
    shards: int  # shards of this file in total
    start: int  # index of this unit's first record in the file
    count: int  # records (sequences) in this unit
    residues: int  # sum of sequence lengths in this unit
    sha256: str  # content hash of the whole input file (resume key)

    @property
    def sequences(self) -> int:
        return self.count

    @property
    def cost(self) -> float:
        """Estimated work: sequences × mean length, i.e. residues."""
        return float(self.residues)
