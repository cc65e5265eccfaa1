"""A whole node lost in the middle of a run (its raylet killed, every process on it
gone): nothing is lost, its units run on the other node, its devices show dead.

This module has its cluster to itself: the test takes the second node away.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("ray")

from tests.integration.conftest import (  # noqa: E402
    REPO,
    assert_each_unit_once,
    expected_ids_sha256,
    make_inputs,
    read_manifest,
    run_json,
    wait_for,
)

TIMEOUT_S = 120


def test_a_lost_node_loses_no_unit(ray_cluster, tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 16, seqs=12)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "0.5", "--backend", "ray",
           "--ray-address", ray_cluster.address, "--gpus", "sim:1,1,1,1", "--sim-rate", "6000",
           "--steal-interval", "0.3", "--split-min", "1000",  # whole files: 0.5 s units, 4 per device
           "--out", str(out), str(inputs)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        (node,) = ray_cluster.worker_nodes
        devices = run_json(out)["devices"]
        lost = {d["index"] for d in devices if d["node"] == node.node_id}
        assert lost and len(lost) < len(devices)  # actors on both nodes
        # A device on that node has finished a unit and holds the next: the node goes now.
        wait_for(lambda: any(r["node"] == node.node_id for r in read_manifest(out)),
                 what="a unit done on the second node")
        ray_cluster.remove_node(node, allow_graceful=False)  # raylet, object store, actors: all killed
        _, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-2000:]
    rows = read_manifest(out)
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(16)})
    for r in rows:
        result = json.loads((out / r["output"]).read_text())
        assert result["ids_sha256"] == expected_ids_sha256(inputs / r["file"])
    summary = json.loads((out / "summary.json").read_text())
    assert {d["index"] for d in summary["devices"] if d["final_state"] == "dead"} == lost
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert {e["device"] for e in events if e["kind"] == "death"} == lost
    # Both nodes run on one host here, so a node is named by its id's first 8 digits.
    deaths = [e["message"] for e in events if e["kind"] == "death"]
    assert all("actor lost" in m and m.endswith(f"on node {node.node_id[:8]}") for m in deaths), deaths
    redone = [r for r in rows if r["attempt"] > 1]  # what ran on the lost node when it went
    assert redone and all(r["device_index"] not in lost for r in redone)
    assert summary["files_done"] == 16 and summary["exit_code"] == 0
