"""Streaming FASTA: one validating scan for cost estimates, and record iteration.

The scheduler needs sequence counts and residue totals per shard before any
work starts, and a content hash for resume. ``scan`` gets all of that in one
binary pass over the file (hashing the raw bytes as they are read), holding
one line at a time. On the way it notes where every 256th record starts
(``record_index``) and, for gzip input, writes a seekable copy of the text
(``gzip_cache``), so ``iter_records`` can read any unit back by seeking to
it instead of parsing every record before it.

A file is gzip when its first bytes are the gzip magic, whatever its name:
a ``.gz`` suffix on a plain file, or a compressed file without one, both read.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import string
import zlib
from array import array
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TextIO

from ..errors import InputError, UnitError
from . import gzip_cache
from .record_index import INDEX_STRIDE, LONG_RECORD, RecordIndex, SeekPoint

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 20  # 1 MiB reads: few syscalls, small enough to never matter for memory
SMALL_READ = 1 << 16  # a file smaller than one chunk gets a buffer its size (at least this): a
# 1 MiB buffer per tiny file costs the main process heap it never gets back
UTF8_BOM = b"\xef\xbb\xbf"  # editors on Windows prepend it; it is not part of the header
# Bytes a sequence line may hold besides whitespace: residues, stop '*', gaps '-' and '.'.
SEQUENCE_BYTES = (string.ascii_letters + "*-.").encode()
# A FASTA file starts with a header; this many other lines first means it is not FASTA
# (a bound, so a large text file is not read to its end just to word the error).
MAX_LINES_BEFORE_HEADER = 1000


@dataclass(frozen=True)
class Alphabet:
    """The letters a task reads in sequences, checked by the scan: a file of other
    letters (proteins given to a nucleotide task) is refused before the run starts."""

    name: str  # "nucleotide": says what a refused file is not
    letters: str  # allowed in either case, besides whitespace
    hint: str = ""  # added to the refusal, e.g. "; a protein file?"

    @property
    def allowed(self) -> bytes:
        return (self.letters.upper() + self.letters.lower()).encode()


# IUPAC nucleotide letters (U for RNA, X for a masked base) and gaps. Anything else (a
# protein's E, F, I, L, P, Q ..., a stop '*') means the file is not nucleotides.
NUCLEOTIDE = Alphabet("nucleotide", "ACGTUNRYSWKMBDHVX-.", "; a protein file?")


class Record(NamedTuple):
    id: str  # first whitespace-separated token of the header
    description: str  # the whole header line after '>'
    sequence: str  # sequence lines joined, all whitespace removed, case kept


@dataclass(frozen=True)
class ShardStat:
    start: int  # index of the shard's first record in the file
    count: int  # records in the shard
    residues: int
    offset: int = -1  # byte offset of the shard's first record in the FASTA text


@dataclass(frozen=True)
class FileScan:
    path: str
    sha256: str  # of the raw bytes as stored (compressed bytes for .gz)
    sequences: int
    residues: int
    shards: tuple[ShardStat, ...]
    index: RecordIndex | None = None  # record offsets, for reading any range by seeking


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, for people."""
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """``path`` opened for reading, if it is a regular file, else InputError. Opened
    without blocking, so a FIFO put where an input was is refused instead of waited on."""
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"{name}: not a regular file ({file_kind(mode)}); only regular files are inputs")
        return os.fdopen(fd, "rb")  # O_NONBLOCK does nothing on a regular file
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def open_text(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A plain or gzip FASTA file as UTF-8 text (a leading BOM is dropped), while the block runs."""
    with open_regular(path) as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        with _text(gzip.GzipFile(fileobj=raw) if compressed else raw) as text:
            yield text


def iter_records(
    path: str | os.PathLike[str],
    start: int = 0,
    count: int | None = None,
    seek: SeekPoint | None = None,
) -> Iterator[Record]:
    """Yield records ``start`` .. ``start + count - 1`` (0-based), then stop reading.

    With ``seek`` (a record at or before ``start``, from the scan) reading starts
    there; without it, or for a gzip file whose seekable copy is gone, it parses
    from the top. A file that changed since the scan raises UnitError, whichever.
    """
    if start < 0 or (count is not None and count < 0):
        raise ValueError(f"bad record range: start={start}, count={count}")
    if seek is not None and not 0 <= seek.record <= start:
        raise ValueError(f"seek point at record {seek.record} is past start={start}")
    stop = None if count is None else start + count
    if stop is not None and stop <= start:
        return
    with ExitStack() as stack:
        f, index = _open_at(os.fspath(path), seek, stack)
        yield from _parse(os.fspath(path), f, index, start, stop, seek is not None)


def _open_at(name: str, seek: SeekPoint | None, stack: ExitStack) -> tuple[TextIO, int]:
    """Text positioned at a record start, and that record's index minus one."""
    if seek is None:
        return stack.enter_context(open_text(name)), -1
    raw = stack.enter_context(open_regular(name))
    st = os.fstat(raw.fileno())
    if (st.st_size, st.st_mtime_ns) != (seek.size, seek.mtime_ns):
        raise UnitError(f"{name}: changed since it was scanned (size or modification time); "
                        "run again to rescan it")
    if not seek.cache:
        if raw.read(2) == GZIP_MAGIC:  # a gzip scanned without a cache folder: no copy to seek in
            raw.seek(0)
            return stack.enter_context(_text(gzip.GzipFile(fileobj=raw))), -1
        raw.seek(seek.offset)
        return stack.enter_context(_text(raw)), seek.record - 1
    try:
        text = stack.enter_context(
            gzip_cache.open_at(seek.cache, seek.member, seek.member_start, seek.offset))
    except OSError:  # the copy was pruned or its folder wiped: correct, only slower
        return stack.enter_context(_text(gzip.GzipFile(fileobj=raw))), -1
    return stack.enter_context(_text(text)), seek.record - 1


def _text(raw: io.BufferedReader | gzip.GzipFile) -> TextIO:
    return io.TextIOWrapper(raw, encoding="utf-8-sig")


def _parse(
    name: str, f: TextIO, index: int, start: int, stop: int | None, seeking: bool
) -> Iterator[Record]:
    """Records ``start`` .. ``stop - 1`` of ``f``, whose next record is ``index + 1``."""
    header: str | None = None
    parts: list[str] = []
    for line in f:
        if line.startswith(">"):
            if header is not None and index >= start:
                yield _record(header, parts)
            index += 1
            if stop is not None and index >= stop:
                return
            header, parts = line[1:].rstrip("\r\n"), []
        elif header is None and seeking and line.strip():
            raise UnitError(f"{name}: changed since it was scanned (no record at the saved offset); "
                            "run again to rescan it")
        elif header is not None and index >= start:
            parts.append("".join(line.split()))
    if header is not None and index >= start:
        yield _record(header, parts)


def _record(header: str, parts: list[str]) -> Record:
    fields = header.split(None, 1)
    return Record(fields[0] if fields else "", header, "".join(parts))


class _HashingReader(io.RawIOBase):
    """A raw reader that feeds every byte it reads into a sha256."""

    def __init__(self, f: io.BufferedIOBase) -> None:
        self._f = f
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self._f.readinto(buffer)
        if n:
            self.hash.update(memoryview(buffer)[:n])
        return n or 0

    def drain(self) -> None:
        """Hash whatever the decoder left unread, so the digest covers the file."""
        while chunk := self._f.read(READ_CHUNK):
            self.hash.update(chunk)


def scan(
    path: str | os.PathLike[str],
    shard_size: int,
    *,
    cache_dir: str | None = None,
    stride: int = INDEX_STRIDE,
    alphabet: Alphabet | None = None,
) -> FileScan:
    """Validate a FASTA file and count its sequences and residues per shard, in one pass.

    It also indexes record offsets; for gzip input with ``cache_dir`` it writes
    a seekable copy of the text there (an unwritable folder only means no copy).
    ``alphabet``: the letters the task reads (None: any letter, '*', '-' and '.').
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    name = os.fspath(path)
    writer: gzip_cache.MemberWriter | None = None
    try:
        try:
            with open_regular(name) as f:
                before = os.fstat(f.fileno())
                compressed = f.read(2) == GZIP_MAGIC
                f.seek(0)
                hasher = _HashingReader(f)
                buffered = io.BufferedReader(hasher, min(READ_CHUNK, max(SMALL_READ, before.st_size)))
                lines: io.BufferedIOBase = buffered
                if compressed:
                    text = gzip.GzipFile(fileobj=buffered)
                    writer = gzip_cache.MemberWriter.open(cache_dir)
                    if writer is not None:
                        lines = io.BufferedReader(gzip_cache.Tee(text, writer), READ_CHUNK)
                    else:
                        lines = text
                counts = _count(name, lines, shard_size, stride, alphabet)
                hasher.drain()
                after = os.fstat(f.fileno())
        except (gzip.BadGzipFile, EOFError, zlib.error):
            raise InputError(f"{name}: corrupt gzip data") from None
        except OSError as e:
            raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise InputError(f"{name}: changed while it was being scanned")
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    sequences, residues, shards, offsets, cumulative, longs = counts
    sha = hasher.hash.hexdigest()
    cache, members = "", None
    if writer is not None:
        cache = writer.finish(sha)  # "" when the copy failed: reads parse from the top
        members = writer.members if cache else None
    index = RecordIndex(name, sequences, residues, before.st_size, before.st_mtime_ns, offsets,
                        cumulative, stride, cache, members, gzip_cache.MEMBER_SIZE, longs[0::2], longs[1::2])
    return FileScan(name, sha, sequences, residues, shards, index)


def _binary(line: bytes) -> bool:
    if b"\0" in line:
        return True
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _bad_header(name: str, line: bytes, lineno: int) -> InputError | None:
    """Why a header line cannot be read as text, or None when it can."""
    if b"\0" in line:
        return InputError(f"{name}: not a FASTA file (binary data)")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InputError(f"{name}: line {lineno}: header is not UTF-8 text "
                          f"(byte 0x{line[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8")
    return None


def _bad_sequence(name: str, line: bytes, lineno: int, alphabet: Alphabet | None) -> InputError:
    """Why a sequence line of a FASTA file is refused (a letter outside the task's alphabet,
    or a character no sequence has)."""
    if _binary(line):
        return InputError(f"{name}: not a FASTA file (binary data)")
    text = line.decode("utf-8")
    if alphabet is not None:
        allowed = alphabet.allowed.decode()
        for column, char in enumerate(text, 1):
            if not char.isspace() and char not in allowed and char.encode() in SEQUENCE_BYTES:
                return InputError(f"{name}: line {lineno}: not a {alphabet.name} sequence "
                                  f"(character {char!r} at column {column}){alphabet.hint}")
    return InputError(f"{name}: line {lineno}: unexpected characters in sequence")


def _count(
    name: str, lines: Iterable[bytes], shard_size: int, stride: int, alphabet: Alphabet | None
) -> tuple[int, int, tuple[ShardStat, ...], array[int], array[int], array[int]]:
    """The scan loop proper: kept tight, it runs once per line of every input."""
    allowed = SEQUENCE_BYTES if alphabet is None else alphabet.allowed
    sequences = residues = 0
    record_began = 0  # residues before the record being read
    longs = array("Q")  # (record, residues) pairs of records at least LONG_RECORD long
    shards: list[ShardStat] = []
    shard_start = shard_residues = shard_offset = 0
    done_residues = 0  # residues of the shards already closed
    offsets, cumulative = array("Q"), array("Q")
    seen_header = False
    stray_line = 0  # first non-blank line before any header
    lineno = 0
    pos = 0  # text offset of the line being read
    for lineno, line in enumerate(lines, 1):
        at = pos
        pos += len(line)
        if lineno == 1 and line.startswith(UTF8_BOM):
            line = line[len(UTF8_BOM):]
        if line[:1] == b">":
            if (bad := _bad_header(name, line, lineno)) is not None:
                raise bad
            if stray_line:
                raise InputError(
                    f"{name}: not a FASTA file (sequence before the first header, line {stray_line})"
                )
            if not line[1:].split(None, 1):
                raise InputError(f"{name}: record with an empty id at line {lineno}")
            seen_header = True
            here = done_residues + shard_residues
            if here - record_began >= LONG_RECORD:
                longs.extend((sequences - 1, here - record_began))
            record_began = here
            if sequences - shard_start == shard_size:
                shards.append(ShardStat(shard_start, shard_size, shard_residues, shard_offset))
                done_residues += shard_residues
                shard_start, shard_residues, shard_offset = sequences, 0, at
            if not sequences % stride:
                offsets.append(at)
                cumulative.append(done_residues + shard_residues)
            sequences += 1
            continue
        # Deleting the allowed bytes leaves only whitespace on a good line.
        rest = line.translate(None, allowed)
        if rest.strip():
            if _binary(line):
                raise InputError(f"{name}: not a FASTA file (binary data)")
            if seen_header:
                raise _bad_sequence(name, line, lineno, alphabet)
        elif len(rest) == len(line):
            continue  # blank line
        if not seen_header:
            stray_line = stray_line or lineno
            if lineno - stray_line >= MAX_LINES_BEFORE_HEADER:
                break
            continue
        shard_residues += len(line) - len(rest)
    if stray_line:
        raise InputError(f"{name}: not a FASTA file (no '>' header line)")
    if sequences:
        if done_residues + shard_residues - record_began >= LONG_RECORD:
            longs.extend((sequences - 1, done_residues + shard_residues - record_began))
        shards.append(ShardStat(shard_start, sequences - shard_start, shard_residues, shard_offset))
        residues = sum(s.residues for s in shards)
    return sequences, residues, tuple(shards), offsets, cumulative, longs
