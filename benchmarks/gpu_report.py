"""The GPU check's table and verdicts (benchmarks/gpu_check.py fills them).

A row per model, dtype and forward: sequences/s, tokens/s, the allocator's
peak memory and the mean GPU utilisation NVML reported while the row was
measured. A check is a line, PASS or FAIL; the check fails when one does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from virnucpro_bridge.tasks.virnucpro.precision import EMBEDDING_TOLERANCE, dtype_name

FP32_TOLERANCE = 1e-4  # as tests/virnucpro/test_cuda.py: CUDA float32 kernels sum in other orders


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


class Report:
    """The table's rows and the checks' verdicts."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.rows: list[dict[str, Any]] = []
        self.checks: list[tuple[bool, str]] = []
        self.facts: list[str] = []

    def check(self, ok: bool, text: str) -> None:
        self.checks.append((bool(ok), text))
        print(f"  {'PASS' if ok else 'FAIL'}: {text}", flush=True)

    def finite(self, name: str, embeddings: torch.Tensor) -> None:
        bad = int((~torch.isfinite(embeddings)).any(dim=-1).sum())
        if bad:
            self.check(False, f"{name}: {bad} of {len(embeddings)} embeddings hold NaN or Inf")

    def close_to(self, name: str, got: torch.Tensor, expected: torch.Tensor, dtype: Any) -> None:
        """``got`` (on the device, in ``dtype``) against CPU float32, relative to its largest value."""
        error = ((got.float().cpu() - expected).abs().max() / expected.abs().max()).item()
        allowed = FP32_TOLERANCE if dtype is None else EMBEDDING_TOLERANCE[dtype]
        self.check(error <= allowed, f"{name} {dtype_name(dtype)} vs CPU float32: max |diff| {error:.2e} of the "
                                     f"largest value (allowed {allowed:g})")

    def measure(self, model: str, dtype: Any, forward: str, embed: Callable[[list[str]], Any],
                items: list[str], tokens: int) -> torch.Tensor:
        """One row: a warm-up, then the whole set timed with NVML sampled meanwhile."""
        embed(items[:8])  # kernels, allocator, rotary tables
        synchronize(self.device)
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats(torch.device(self.device))
        with UtilSampler(self.device) as util:
            started = time.perf_counter()
            out = embed(items)
            synchronize(self.device)
            seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated(torch.device(self.device)) / 2**30 if cuda else None
        row = {"model": model, "dtype": dtype_name(dtype), "forward": forward, "sequences": len(items),
               "seq_s": len(items) / seconds, "tok_s": tokens / seconds, "peak_gib": peak, "gpu_util": util.mean}
        self.rows.append(row)
        print(f"  {model:<24} {row['dtype']:<5} {forward:<9} {row['seq_s']:9.1f} seq/s", flush=True)
        self.finite(f"{model} {row['dtype']} {forward}", out)
        return out

    def render(self) -> str:
        head = ("model", "dtype", "forward", "seq/s", "tokens/s", "peak mem", "GPU util")
        body = [(r["model"], r["dtype"], r["forward"], f"{r['seq_s']:.1f}", f"{r['tok_s']:,.0f}",
                 "-" if r["peak_gib"] is None else f"{r['peak_gib']:.2f} GiB",
                 "-" if r["gpu_util"] is None else f"{r['gpu_util']:.0f} %") for r in self.rows]
        widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=True)).rstrip() for x in [head, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdicts = [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in self.checks]
        return "\n".join([*self.facts, "", *lines, "", *verdicts])


class UtilSampler:
    """GPU utilisation (NVML) every 0.1 s while the block runs; ``mean`` None without NVML."""

    def __init__(self, device: str) -> None:
        self.device, self.samples, self.mean = device, [], None
        self._stop = threading.Event()
        self._sampler: Any = None

    def __enter__(self) -> UtilSampler:
        if self.device.startswith("cuda"):
            from virnucpro_bridge.hardware.discovery import torch_devices
            from virnucpro_bridge.hardware.nvml import NvmlSampler

            index = torch.device(self.device).index or 0
            uuid = next((d.uuid for d in torch_devices() if d.index == index), None)
            self._sampler = NvmlSampler(index, uuid)
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            value = self._sampler.read().utilization
            if value is not None:
                self.samples.append(value)

    def __exit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._stop.set()
            self._thread.join()
            self._sampler.close()
            self.mean = sum(self.samples) / len(self.samples) if self.samples else None
