"""Connecting to Ray and listing its devices, for ``--backend ray``.

Ray is optional: nothing here imports it at module level, and
``require_ray`` turns its absence into a usage error (exit 2). Without
``--ray-address`` a small local Ray instance is started (demos, tests); with
one, the driver connects to that cluster. Either way the driver disconnects
at the end of the run (``disconnect``); no actor is detached, so a driver
that dies takes its actors with it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import virnucpro_bridge

from ...errors import UsageError
from ...hardware.cpus import threads_per_worker
from ...hardware.devices import (
    AUTO_CPU_WORKERS,
    DeviceSpec,
    capability_weight,
    parse_gpus,
)

LOCAL_OBJECT_STORE = 200 * 1024**2  # one unit's records per device in flight; Ray spills past this
ACCELERATOR = "accelerator_type:"  # Ray's resource naming a node's GPU model, when it detected one


def require_ray() -> None:
    """UsageError (exit 2, one line) when ray cannot be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--backend ray: ray is not installed; in lbtui's folder: .venv/bin/pip install -e '.[ray]' "
                         "(make install includes it)") from None


def code_paths() -> list[str]:
    """Folders actors need on their path to import the driver's own lbtui (a
    source checkout) and user tasks in the current folder. An installed lbtui
    adds nothing: each node imports its own install. A folder that does not
    exist on a node is ignored there."""
    paths = []
    root = Path(virnucpro_bridge.__file__).resolve().parents[1]
    if not {"site-packages", "dist-packages"} & set(root.parts):
        paths.append(str(root))
    paths.append(os.getcwd())
    extra = os.environ.get("PYTHONPATH")
    return paths + ([extra] if extra else [])


def connect(address: str | None, *, num_cpus: int | None = None) -> None:
    """Start a local Ray instance (``address`` None) or connect to a cluster."""
    import ray

    if ray.is_initialized():
        ray.shutdown()  # a previous run in this process left it connected
    # No usage-stats prompt or upload: clusters often have no outside network.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = dict(
        log_to_driver=False,  # actors' output would garble the dashboard
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(code_paths())}},
    )
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                     object_store_memory=LOCAL_OBJECT_STORE, include_dashboard=False, **kwargs)
    except Exception as exc:  # ConnectionError, a bad address, a cluster of another Ray version ...
        where = f"--ray-address {address}" if address else "--backend ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{where}: cannot start or reach Ray: {first}") from None


def disconnect() -> None:
    """Leave the cluster (and stop a local instance); safe when never connected."""
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except Exception:  # noqa: BLE001 - ending anyway: nothing left to release
        pass


def local_cpus(gpus: str) -> int:
    """CPUs a local instance declares: enough for ``cpu:N`` on a small machine."""
    text = gpus.strip().lower()
    wanted = int(text[4:]) if text.startswith("cpu:") and text[4:].isdigit() else 0
    return max(os.cpu_count() or 1, wanted)


def node_names(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """Short names by node id: the hostname when every node has its own, else
    the first 8 hex digits of the node id (several nodes on one machine)."""
    hosts = [n.get("NodeManagerHostname") or "" for n in nodes]
    unique = all(hosts) and len(set(hosts)) == len(hosts)
    return {n["NodeID"]: (h if unique else n["NodeID"][:8]) for n, h in zip(nodes, hosts, strict=True)}


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    listed = cast(Callable[[], list[dict[str, Any]]], ray.nodes)  # ray's own API has no annotations
    nodes = [n for n in listed() if n.get("Alive")]
    return sorted(nodes, key=lambda n: (n.get("NodeManagerHostname") or "", n["NodeID"]))


def cluster_devices(gpus: str) -> tuple[list[DeviceSpec], dict[int, str]]:
    """``--gpus`` on a cluster: ``all``/``auto`` = one device per GPU of every
    node (auto: 2 CPU workers when there is none); ``cpu:N`` and ``sim:...``
    as locally. Returns the devices and, for GPUs, the node id each is pinned to.
    A GPU's model comes from Ray's accelerator type until its actor names it."""
    key = gpus.strip().lower()
    if key.startswith(("cpu:", "sim:")):
        return parse_gpus(gpus), {}
    if key not in ("all", "auto"):
        raise UsageError(f"--gpus {gpus}: with --backend ray use all, auto, cpu:N or sim:S1,S2,...")
    nodes = alive_nodes()
    names = node_names(nodes)
    devices: list[DeviceSpec] = []
    pinned: dict[int, str] = {}
    for node in nodes:
        resources = node.get("Resources") or {}
        model = next((k[len(ACCELERATOR):] for k in resources if k.startswith(ACCELERATOR)), "GPU")
        weight, known = capability_weight(model)
        known = known or model == "GPU"  # no type detected: its actor names it, and warns then
        on_node = int(resources.get("GPU", 0))
        threads = threads_per_worker(on_node, int(resources.get("CPU", 1))) if on_node else None
        for k in range(on_node):
            pinned[len(devices)] = node["NodeID"]
            devices.append(DeviceSpec(len(devices), "cuda", f"{names[node['NodeID']]}/{model}", weight,
                                      ordinal=k, known=known, threads=threads))
    if devices:
        return devices, pinned
    if key == "auto":
        return parse_gpus(f"cpu:{AUTO_CPU_WORKERS}"), {}
    raise UsageError(f"--gpus {gpus}: the Ray cluster has no GPUs; use cpu:N or sim:S1,S2,...")

