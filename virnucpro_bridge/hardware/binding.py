"""A GPU worker sees one device: its own, named by UUID.

Before anything in a GPU worker imports torch, ``bind`` sets
``CUDA_VISIBLE_DEVICES`` to that device's UUID (a MIG instance's ``MIG-``
UUID) and the worker uses ``cuda:0``. So the GPU a worker computes on is the
one discovery listed and NVML reads, whatever ``CUDA_DEVICE_ORDER`` says, and
several MIG instances of one GPU each get a worker of their own (CUDA shows
a process only one MIG instance). After setup, ``check_bound`` compares
torch's device UUID with the one the worker was given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

from .devices import DeviceSpec

# The allocator setting for GPU workers (unless the user chose one): memory freed after an
# out-of-memory back-off is returned in pieces that any later batch shape can reuse.
ALLOC_CONF = "expandable_segments:True"
ALLOC_VARS = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")  # the old name, and torch 2.9's


class BindingError(RuntimeError):
    """This worker cannot be put on its own device, or torch shows another one."""


def bare_uuid(uuid: str) -> str:
    """"GPU-58d6..." / "MIG-58d6..." / "58d6..." -> "58d6..." (lower case): how torch and NVML compare."""
    text = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def visible_entry(spec: DeviceSpec, parent: str | None) -> str:
    """What the worker's ``CUDA_VISIBLE_DEVICES`` holds: the device's UUID; without one
    (torch too old to say), the parent's own entry for that ordinal."""
    if spec.uuid:
        return spec.uuid
    if spec.ordinal is None:
        raise BindingError(f"{spec.label}: a CUDA device without an ordinal or a UUID")
    if parent is None:
        return str(spec.ordinal)
    entries = [e.strip() for e in parent.split(",")]
    if not 0 <= spec.ordinal < len(entries):
        raise BindingError(f"{spec.label}: CUDA device {spec.ordinal} is not in CUDA_VISIBLE_DEVICES={parent!r}")
    return entries[spec.ordinal]


def bind(spec: DeviceSpec, environ: MutableMapping[str, str] | None = None) -> DeviceSpec:
    """Show this process's CUDA only ``spec``'s device; the spec the worker then
    uses (``cuda:0``). Other kinds are returned as they are. Must run before CUDA
    is initialised in this process (it reads the variable once)."""
    if spec.kind != "cuda":
        return spec
    env = os.environ if environ is None else environ
    torch = sys.modules.get("torch")
    if torch is not None and _cuda_initialized(torch):
        raise BindingError(f"{spec.label}: CUDA was initialised before the worker was bound to its GPU")
    env["CUDA_VISIBLE_DEVICES"] = visible_entry(spec, env.get("CUDA_VISIBLE_DEVICES"))
    if not any(var in env for var in ALLOC_VARS):
        env["PYTORCH_CUDA_ALLOC_CONF"] = ALLOC_CONF
    return replace(spec, ordinal=0)


def _cuda_initialized(torch: Any) -> bool:
    try:
        return bool(torch.cuda.is_initialized())
    except Exception:  # a stand-in torch without it
        return False


def torch_uuid(torch: Any) -> str:
    """torch's UUID of ``cuda:0``, as text ("" when this torch does not say)."""
    uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
    return "" if uuid is None else str(uuid)


def check_bound(spec: DeviceSpec, torch: Any, parent_uuid: str | None = None) -> None:
    """After setup: torch's ``cuda:0`` is the device this worker was given. A MIG
    instance may show its GPU's UUID on CUDA before 11.4 (``parent_uuid``)."""
    if spec.kind != "cuda" or not spec.uuid:
        return
    got = torch_uuid(torch)
    if not got:
        return  # torch before 1.10 has no uuid: nothing to compare
    accepted = {bare_uuid(spec.uuid)} | ({bare_uuid(parent_uuid)} if parent_uuid else set())
    if bare_uuid(got) not in accepted:
        raise BindingError(f"{spec.label} was given {spec.uuid} but torch's cuda:0 is {got} "
                           f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
