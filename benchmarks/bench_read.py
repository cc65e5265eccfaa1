"""Reading a unit: scan throughput, and first vs last unit read time (prints numbers only).

Builds a synthetic FASTA (fixed seed; 500,000 records of 150-400 bp wrapped at
60 columns, ~159 MB; a gzip copy of it) under the system temp folder, once,
and reuses it. For plain and gzip input it prints:
- scan throughput in MB/s (of the file as stored, and of its FASTA text),
- read time of the first and of the last of 50 units, through ``read_unit``
  (seek) and through the old path (parse from the top, skipping records);
  the target is last within 2x of first on the seek path,
- the record index's memory, the gzip copy's size on disk and its scan cost.

Usage: python benchmarks/bench_read.py [--records N] [--units N]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from virnucpro_bridge.inputs import fasta  # noqa: E402
from virnucpro_bridge.inputs.plan import plan_units  # noqa: E402
from virnucpro_bridge.inputs.units import Unit, read_unit  # noqa: E402

SEED = 7
WRAP = 60  # columns per sequence line, as most tools write FASTA
GZIP_LEVEL = 6  # gzip's own default: what real .gz inputs use


def make_fasta(path: Path, records: int, seed: int = SEED) -> None:
    """Random ACGT records of 150-400 bp; written to a temp name, then renamed."""
    rng = random.Random(seed)
    table = bytes(b"ACGT"[i % 4] for i in range(256))
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        block = []
        for i in range(records):
            n = rng.randint(150, 400)
            seq = rng.randbytes(n).translate(table)
            lines = b"\n".join(seq[j:j + WRAP] for j in range(0, n, WRAP))
            block.append(b">seq%07d len=%d synthetic record\n%s\n" % (i, n, lines))
            if len(block) == 10_000:
                f.write(b"".join(block))
                block.clear()
        f.write(b"".join(block))
    os.replace(tmp, path)


def inputs(records: int) -> tuple[Path, Path]:
    folder = Path(tempfile.gettempdir()) / "lbtui-bench-read"
    folder.mkdir(exist_ok=True)
    plain = folder / f"synthetic-{SEED}-{records}.fa"
    packed = folder / f"synthetic-{SEED}-{records}.fa.gz"
    if not plain.exists():
        print(f"writing {plain} ...", flush=True)
        make_fasta(plain, records)
    if not packed.exists():
        print(f"writing {packed} (gzip -{GZIP_LEVEL}) ...", flush=True)
        tmp = packed.with_suffix(".part")
        with open(plain, "rb") as src, gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, packed)
    return plain, packed


def timed_read(records) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    n = sum(1 for _ in records)
    return time.perf_counter() - t0, n


def bench(path: Path, label: str, count: int, units: int, cache: str, text_bytes: int) -> None:
    size = path.stat().st_size
    shard = -(-count // units)
    t0 = time.perf_counter()
    plan = plan_units([(str(path), path.name)], shard, cache_dir=cache)
    scan_s = time.perf_counter() - t0
    index = plan.indexes[str(path)]
    print(f"{label}: {size / 1e6:.0f} MB stored, {count:,} records, {len(plan.units)} units")
    print(f"  scan {scan_s:.2f} s = {size / 1e6 / scan_s:.0f} MB/s stored, "
          f"{text_bytes / 1e6 / scan_s:.0f} MB/s of FASTA text; index {index.nbytes / 1e3:.0f} kB"
          + (f", gzip copy {os.path.getsize(index.cache) / 1e6:.0f} MB on disk" if index.cache else ""))
    if index.cache:  # what the seekable copy costs the scan
        t0 = time.perf_counter()
        fasta.scan(path, shard, cache_dir=None)
        bare_s = time.perf_counter() - t0
        print(f"  scan without the gzip copy {bare_s:.2f} s = {text_bytes / 1e6 / bare_s:.0f} MB/s "
              f"of FASTA text (the copy adds {scan_s - bare_s:+.2f} s)")
    first, last = plan.units[0], plan.units[-1]
    rows = []
    for name, read in (("seek (read_unit)", read_unit), ("old: skip from top", _old)):
        f_s, f_n = timed_read(read(first))
        l_s, l_n = timed_read(read(last))
        assert (f_n, l_n) == (first.count, last.count), "read the wrong number of records"
        rows.append((name, f_s, l_s))
    for name, f_s, l_s in rows:
        print(f"  {name:<20} first unit {f_s:6.3f} s   last unit {l_s:6.3f} s   last/first {l_s / f_s:5.1f}x")


def _old(unit: Unit):  # type: ignore[no-untyped-def]
    return fasta.iter_records(unit.path, unit.start, unit.count)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--units", type=int, default=50)
    args = ap.parse_args(argv)
    plain, packed = inputs(args.records)
    text_bytes = plain.stat().st_size
    with tempfile.TemporaryDirectory(prefix="lbtui-bench-cache-") as cache:
        bench(plain, "plain", args.records, args.units, cache, text_bytes)
        bench(packed, "gzip", args.records, args.units, cache, text_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
