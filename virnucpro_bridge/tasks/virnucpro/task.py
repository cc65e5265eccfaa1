"""The ``virnucpro`` task: upstream VirNucPro's prediction, one unit at a time.

    unit records ─► chunk (L) ─► six frames, keep stop-free ─┬─► DNABERT-S mean ─┐
                                                             └─► ESM-2 mean ─────┴─► [nuc, prot]
      ─► MLP softmax ─► units/<rel>[.r<start>-<end>].tsv   (one row per kept frame)

    finalize_file: units of one input, in input order (by first record) ─► results/<rel>/
        prediction_results.txt, prediction_results_highestscore.csv (upstream's),
        prediction_per_sequence.tsv (one call per input sequence)

Models load once per worker (``setup``). Nothing here imports torch at module
import: the engine imports tasks in the main process too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ...errors import TaskError
from ...hardware.devices import DeviceSpec
from ...inputs.fasta import NUCLEOTIDE
from ...inputs.units import Unit
from ...inputs.work import records_started
from ..base import Progress, Task, current_stop, range_suffix
from .chunking import chunk_count
from .prepare import Checker

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .models import Asked

BLOCK_FRAMES = 512  # frames embedded per step: bounds memory, paces progress reports
DEMO_NOTICE = ("demo models ({root}): random weights, predictions are MEANINGLESS "
               "(use them to try lbtui, never for results)")


def results_dir(out_dir: Path, rel: str) -> Path:
    """``<out>/results/<rel>/`` for input ``rel``: the whole name, suffix
    included, so ``a.fa``, ``a.fasta`` and ``a.fa.gz`` side by side never
    share (and overwrite) one result folder."""
    return Path(out_dir, "results", *PurePosixPath(rel).parts)


class NonFiniteOutput(RuntimeError):
    """A record whose embeddings or scores stay NaN or infinite even in float32: its unit
    fails (nothing written), and is retried on another device like any failure."""

    def __init__(self, where: str, record: str, frame: str, model: str) -> None:
        super().__init__(f"{where}: record {record!r} gives NaN or infinite values in {model} even in "
                         f"float32 (frame {frame}); nothing written for this unit")


class VirNucProTask(Task):
    name = "virnucpro"
    needs_cuda_torch = True
    # Rows are per frame of a chunk and batches never mix into results: any chunk
    # boundary is a boundary, inside a record too (``parts`` = its chunks).
    splittable = True
    # A unit's fixed cost is mostly its last, part-filled model batch. Measured on CPU with the
    # demo models: under 5 ms a unit. On a GPU with ESM-2 3B half a 2,048-token batch is more
    # like 0.1-0.3 s (estimated; no GPU with the real models was at hand to measure it).
    unit_overhead_s = 0.2
    alphabet = NUCLEOTIDE  # a protein file (.faa) is refused at the scan, not unit by unit

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.file_counts: dict[str, Any] = {}  # input rel -> results.Counts, as files are merged (main process)

    @property
    def chunk_length(self) -> int:
        return int(self.options.get("chunk_length", 500))

    def parts(self, length: int) -> int:
        return max(1, chunk_count(length, self.chunk_length))

    # -- main process -------------------------------------------------------
    def check(self, asked: Asked | None = None) -> list[str]:
        """Find the models and check every file without building them (workers do,
        in setup; ``lbtui models check`` does both, and names its own argument: ``asked``)."""
        from .classifier import read_state_dict, shape_of
        from .dnabert_folder import inspect
        from .esm_checkpoint import check_esm_weights, read_esm_checkpoint
        from .models import RUN, locate

        paths = locate(self.options.get("models", "auto"), self.chunk_length, asked or RUN)
        state, esm = read_esm_checkpoint(paths.esm)
        check_esm_weights(paths.esm, state, esm)
        del state
        hidden = inspect(paths.dnabert).config.hidden_size
        inputs, _, classes = shape_of(read_state_dict(paths.classifier))
        if inputs != hidden + esm.embed_dim:
            raise TaskError(f"{paths.classifier}: classifier takes {inputs} inputs but the embeddings "
                            f"give {hidden} (DNABERT, {paths.dnabert}) + {esm.embed_dim} "
                            f"(ESM-2, {paths.esm}) = {hidden + esm.embed_dim}")
        if classes != 2:
            raise TaskError(f"{paths.classifier}: classifier has {classes} outputs, expected 2")
        self.paths = paths
        notices = [DEMO_NOTICE.format(root=paths.root)] if paths.demo else []
        return notices

    def fingerprint(self) -> str:
        """Chunk length, autocast and the models' files (path, size, mtime):
        a rerun keeps earlier units only if none of these changed."""
        paths = getattr(self, "paths", None)
        files = []
        if paths is not None:
            for root in (paths.esm, paths.dnabert, paths.classifier):
                found = sorted(root.rglob("*")) if root.is_dir() else [root]
                files += [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in found if p.is_file()]
        # units=2: the unit files' layout (they list the chunks that kept no frame); bump it when that changes
        key = ["units=2", f"chunk_length={self.chunk_length}", f"autocast={bool(self.options.get('autocast', True))}",
               *files]
        return hashlib.sha256("\n".join(key).encode()).hexdigest()[:16]

    def fingerprint_parts(self) -> dict[str, str]:
        paths = getattr(self, "paths", None)
        parts = {"chunk length": str(self.chunk_length),
                 "autocast": "on" if self.options.get("autocast", True) else "off"}
        if paths is not None:
            parts["models"] = str(paths.root or "auto")
        return parts

    def output_path(self, unit: Unit) -> str:
        return f"units/{unit.rel}{range_suffix(unit)}.tsv"

    def finalize_file(self, rel: str, units: Sequence[tuple[Unit, Path]], out_dir: Path) -> list[Path]:
        """Merge the units' rows into the per-file results, once every sequence of the
        file is accounted for (``accounting.py``); a ValueError leaves them as they were."""
        from .accounting import unaccounted
        from .results import merge

        ordered = sorted(units, key=lambda u: u[0].begin)  # by position: chunk ranges too

        def check(chunks: dict[str, list[str]]) -> None:
            if (problem := unaccounted([u for u, _ in ordered], chunks, self.chunk_length)) is not None:
                raise ValueError(f"{rel}: {problem}")

        paths, counts = merge([path for _, path in ordered], results_dir(Path(out_dir), rel), rel, check)
        self.file_counts[rel] = counts
        return paths

    def summary(self) -> dict[str, Any]:
        """Where the results are, and how many input sequences no stop-free frame left unclassified."""
        without = sum(c.without_frames for c in self.file_counts.values())
        return {"results_dir": "results", "sequences_classified": sum(c.classified for c in self.file_counts.values()),
                "sequences_without_frames": without}

    def verify_file(self, rel: str, units: Sequence[tuple[Unit, Path]], out_dir: Path) -> list[tuple[str, str]]:
        """The per-file results hold what merging ``units`` gives, and every sequence is accounted for."""
        from .accounting import unaccounted
        from .results import HIGHEST_NAME, PER_SEQUENCE_NAME, RESULTS_NAME, Merged

        ordered = sorted(units, key=lambda u: u[0].begin)
        folder = results_dir(Path(out_dir), rel)
        merged = Merged([path for _, path in ordered], rel)
        try:
            expected = {RESULTS_NAME: _sha256(merged.results()), HIGHEST_NAME: _sha256(merged.highest()),
                        PER_SEQUENCE_NAME: _sha256(merged.per_sequence())}
            problem = unaccounted([u for u, _ in ordered], merged.chunks, self.chunk_length)
        except (OSError, ValueError) as exc:
            return [(rel, f"its unit results cannot be merged: {exc}")]
        found = [] if problem is None else [(rel, problem)]
        for name, sha in expected.items():
            path = folder / name
            try:
                same = path.is_file() and not path.is_symlink() and _sha256_file(path) == sha
            except OSError as exc:
                found.append((str(path.relative_to(out_dir)), f"unreadable: {exc.strerror or exc}"))
                continue
            if not same:
                why = "differs from what its unit results merge into" if path.exists() else "missing"
                found.append((str(path.relative_to(out_dir)), why))
        return found

    # -- worker -------------------------------------------------------------
    def setup(self, device: DeviceSpec) -> None:
        """Load the models on this worker's device and run one test sequence through
        each; a TaskError (one line naming the model's file) if anything fails."""
        super().setup(device)
        import torch

        from .loading import load_pipeline, smoke
        from .models import locate
        from .precision import compute_dtype

        torch.set_grad_enabled(False)
        where = device.torch_device
        if device.kind == "cuda":  # later allocations and kernels default to this device
            torch.cuda.set_device(device.ordinal)
        paths = locate(self.options.get("models", "auto"), self.chunk_length)
        dtype = compute_dtype(where, bool(self.options.get("autocast", True)))
        tokens = self.options.get("toks_per_batch")  # None: from the memory free after loading
        self.pipeline = load_pipeline(paths, where, dtype, int(tokens) if tokens else None)
        smoke(self.pipeline)
        self.protein, self.nucleotide = self.pipeline.protein, self.pipeline.nucleotide
        self.protein.phases = self.nucleotide.phases = self.phases
        self.classifier = self.pipeline.classifier

    def notes(self) -> dict[str, str]:
        """The precision and the token budgets this device uses (they shrink on out-of-memory)."""
        from .precision import dtype_name

        pipeline = getattr(self, "pipeline", None)
        if pipeline is None:
            return {}
        return {"precision": dtype_name(pipeline.dtype), **pipeline.budget_notes()}

    def run_unit(self, unit: Unit, output: Path, progress: Progress) -> int:
        from .blocks import blocks
        from .results import write_unit

        where = unit.rel if unit.whole else f"{unit.rel} (records {unit.start}-{unit.end - 1})"
        at = (0, unit.part)  # position reached, relative to unit.start
        stop = [current_stop(progress(at), unit)]  # read by the producer, which may run ahead
        source = self._prepared(blocks(unit, self.parts, self.chunk_length, lambda: stop[0], Checker(where),
                                       BLOCK_FRAMES))
        lines: list[str] = []
        with self._ahead(source) as ready:
            for block in ready:
                block = block.before(stop[0])  # read past a stop set meanwhile (a cut in flight)
                if block.error is not None and block.at < stop[0]:
                    raise block.error
                at = min(block.at, stop[0])
                probabilities = self.predict(block, where) if block.frames else None
                with self.phases.phase("write"):
                    lines.extend(self._rows(block, probabilities))
                stop[0] = current_stop(progress(at), unit)
                if block.error is not None or at >= stop[0]:
                    break
        with self.phases.phase("write"):
            write_unit(output, lines)
        return records_started((0, unit.part), min(at, stop[0]))

    def _rows(self, block: Any, probabilities: Any) -> list[str]:
        """The block's lines in order: a prediction per frame, the rows of chunks that kept no frame."""
        from .results import format_rows

        rows = format_rows([f.id for f in block.frames], probabilities) if block.frames else iter(())
        return [item if isinstance(item, str) else next(rows) for item in block.items]

    def _prepared(self, source: Iterator[Any]) -> Iterator[Any]:
        """Each block with its models' inputs prepared (host work, in the prefetch thread)."""
        for block in source:
            self.prepare(block)
            yield block

    def prepare(self, block: Any) -> None:
        """Tokens, batches and host tensors for both models (done again for a block cut short)."""
        block.nucleotide = self.nucleotide.prepare([f.nucleotide for f in block.frames])
        block.protein = self.protein.prepare([f.protein for f in block.frames])

    def _ahead(self, source: Iterator[Any]) -> AbstractContextManager[Iterator[Any]]:
        """``source`` run one block ahead in a prefetch thread (option ``prefetch``, on by
        default), the consumer's waits counted as ``input``; else inline."""
        from ..prefetch import Prefetch

        if not self.options.get("prefetch", True):
            return nullcontext(source)
        return Prefetch(source, depth=1, waiting=lambda: self.phases.phase("input"), name="lbtui-prefetch",
                        start=self._thread_device)

    def _thread_device(self) -> None:
        """In the prefetch thread: CUDA's current device is per thread, and pinned memory is
        allocated through it (left at 0 it would open a context on another GPU)."""
        if self.device.kind == "cuda":
            import torch

            torch.cuda.set_device(torch.device(self.device.torch_device))

    def predict(self, block: Any, where: str) -> NDArray[np.float32]:  # (n, 2)
        """Scores for a prepared block; its embeddings and scores checked finite (embeddings.py)."""
        import torch

        from .classifier import classify
        from .embeddings import NonFinite

        if block.nucleotide is None or len(block.nucleotide.lengths) != len(block.frames):
            with self.phases.phase("cpu"):  # cut short after it was prepared
                self.prepare(block)
        with self.phases.phase("gpu"):
            try:
                nucleotide = self.nucleotide.run(block.nucleotide)
                protein = self.protein.run(block.protein)
            except NonFinite as exc:
                raise NonFiniteOutput(where, block.frame_records[exc.index], block.frames[exc.index].id,
                                      exc.model) from None
            scores = classify(self.classifier, torch.cat([nucleotide, protein], dim=1))
            bad = (~torch.isfinite(scores).all(1)).nonzero().flatten().tolist()
            if bad:
                scores = scores.clone()  # an inference tensor: updated in place only as a copy
                scores[bad] = self._rescore(block, bad, where)
        return scores.numpy()

    def _rescore(self, block: Any, rows: list[int], where: str) -> Any:
        """Scores of ``rows`` from float32 embeddings (they were not finite from half ones)."""
        import torch

        from .classifier import classify
        from .embeddings import NonFinite

        frames = [block.frames[i] for i in rows]
        scores = None
        if self.nucleotide.lower_precision() or self.protein.lower_precision():
            try:
                nucleotide = self.nucleotide.run(self.nucleotide.prepare([f.nucleotide for f in frames]),
                                                 float32=True)
                protein = self.protein.run(self.protein.prepare([f.protein for f in frames]), float32=True)
            except NonFinite as exc:
                row = rows[exc.index]
                raise NonFiniteOutput(where, block.frame_records[row], block.frames[row].id, exc.model) from None
            scores = classify(self.classifier, torch.cat([nucleotide, protein], dim=1))
            if bool(torch.isfinite(scores).all()):
                return scores
        first = rows[0] if scores is None else rows[int((~torch.isfinite(scores).all(1)).nonzero()[0, 0])]
        raise NonFiniteOutput(where, block.frame_records[first], block.frames[first].id, "the classifier")

    def counts(self) -> dict[str, int]:
        """Batches redone in float32 because half precision gave NaN or infinity."""
        pipeline = getattr(self, "pipeline", None)
        if pipeline is None:
            return {}
        return {"fp32_redone_batches": pipeline.protein.redone + pipeline.nucleotide.redone}

    def teardown(self) -> None:
        for name in ("pipeline", "protein", "nucleotide", "classifier"):
            self.__dict__.pop(name, None)


def _sha256(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
    return h.hexdigest()


def _sha256_file(path: Path) -> str:
    from ...runfiles.vouch import digest

    return digest(path)[0]
