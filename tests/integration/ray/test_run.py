"""`lbtui run --backend ray` end to end, as subprocesses against a two-node cluster."""

from __future__ import annotations

import json
import os
import signal
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
    tiles,
    unit_results,
    wait_for,
    write_fasta,
)

TIMEOUT_S = 120


def lbtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "0.5", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)


def events(out) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]


def test_each_unit_once_on_two_nodes_identical_to_local(cluster, tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 12, seqs=12)
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    args = ("--gpus", "sim:1,1,1,1", "--sim-rate", "15000", "--split-min", "1000")  # whole files
    proc = lbtui("--backend", "ray", "--ray-address", cluster, "--out", str(ray_out), *args, str(inputs))
    assert proc.returncode == 0, proc.stderr[-2000:]
    devices = run_json(ray_out)["devices"]
    nodes = {d["node"] for d in devices}
    assert len(nodes) == 2 and "" not in nodes  # SPREAD: both nodes have actors
    assert all(d["pid"] for d in devices)
    rows = read_manifest(ray_out)
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(12)})
    assert {r["node"] for r in rows} <= nodes
    assert all(r["node"] == devices[r["device_index"]]["node"] for r in rows)
    summary = json.loads((ray_out / "summary.json").read_text())
    for d in summary["devices"]:  # actors report where their time went, as local workers do
        assert set(d["time_split_s"]) == {"input", "cpu", "gpu", "write"} and d["worker_wall_s"] > 0

    proc = lbtui("--out", str(local_out), *args, str(inputs))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert unit_results(ray_out) == unit_results(local_out)
    assert {r["node"] for r in read_manifest(local_out)} == {""}


def test_killed_actor_has_its_unit_redone_elsewhere(cluster, tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 10, seqs=12)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lbtui.cli", "run", "--headless", "--refresh", "0.5", "--backend", "ray",
           "--ray-address", cluster, "--gpus", "sim:1,1", "--sim-rate", "6000", "--steal-interval", "0.3",
           "--split-min", "1000", "--out", str(out), str(inputs)]  # whole files: 0.5 s units
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = run_json(out)["devices"][0]
        # SIM0 has finished a unit and holds the next one: kill its actor mid-unit.
        wait_for(lambda: any(r["device_index"] == 0 for r in read_manifest(out)), what="SIM0's first unit")
        os.kill(victim["pid"], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-2000:]
    rows = read_manifest(out)
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(10)})
    deaths = [e for e in events(out) if e.get("kind") == "death"]
    assert deaths and deaths[0]["device"] == 0
    redone = [r for r in rows if r["attempt"] == 2]
    assert redone and all(r["device_index"] == 1 for r in redone)


def test_fast_device_steals_from_the_slow_one_across_nodes(cluster, tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 10, seqs=12)
    out = tmp_path / "out"
    # Unweighted, so the initial split is even and only stealing can balance it.
    proc = lbtui("--backend", "ray", "--ray-address", cluster, "--gpus", "sim:6,0.5", "--no-weighted",
                 "--sim-rate", "15000", "--steal-interval", "0.3", "--split-min", "1000",  # whole files
                 "--out", str(out), str(inputs))
    assert proc.returncode == 0, proc.stderr[-2000:]
    devices = run_json(out)["devices"]
    assert devices[0]["node"] != devices[1]["node"]
    rows = read_manifest(out)
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(10)})
    stolen = [r for r in rows if r["stolen"]]
    assert stolen and all(r["device_index"] == 0 for r in stolen)
    assert json.loads((out / "summary.json").read_text())["steals"] == len(stolen)


def test_running_units_are_cut_in_flight_across_nodes_and_each_record_runs_once(cluster, tmp_path) -> None:
    big = write_fasta(tmp_path / "in" / "big.fa", 600)
    out = tmp_path / "out"
    # As tests/integration/test_splitting.py: an 8× faster device that the plan treats as
    # equal runs dry while the slow one (on the other node) has most of a piece to do.
    proc = lbtui("--backend", "ray", "--ray-address", cluster, "--gpus", "sim:1,8", "--no-weighted",
                 "--sim-rate", "4000", "--split-min", "20", "--steal-interval", "0.2", "--out", str(out),
                 str(tmp_path / "in"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    devices = run_json(out)["devices"]
    assert devices[0]["node"] != devices[1]["node"]
    rows = read_manifest(out)
    assert tiles(rows, 600)  # every record in exactly one piece
    summary = json.loads((out / "summary.json").read_text())
    assert summary["splits"] >= 1 and summary["sequences"] == 600
    assert summary["devices"][1]["split_in"] == summary["splits"] == summary["devices"][0]["split_out"]
    assert any(r["split_from"] for r in rows)
    for r in rows:  # each piece's result covers exactly its records, whichever node ran it
        result = json.loads((out / r["output"]).read_text())
        assert (result["start"], result["sequences"]) == (r["start"], r["count"])
        assert result["ids_sha256"] == expected_ids_sha256(big, r["start"], r["count"])
    splits = [e for e in events(out) if e["kind"] == "split"]
    assert len(splits) == summary["splits"] and all(e["thief"] == 1 and e["victim"] == 0 for e in splits)


def test_short_units_sent_ahead_are_still_stolen_once(cluster, tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 160, seqs=2)
    out = tmp_path / "out"
    # Units of 3 to 35 ms: each actor holds several ahead; the fast one steals the slow one's
    # tail, which at the end is what the slow actor holds ahead (withdrawn from it). The slow
    # one's half takes about 2.7 s: with 40 units (0.7 s) an actor that started late on a
    # loaded machine found the other done with everything, and nothing was stolen.
    proc = lbtui("--backend", "ray", "--ray-address", cluster, "--gpus", "sim:6,0.5", "--no-weighted",
                 "--sim-rate", "30000", "--steal-interval", "0.2", "--out", str(out), str(inputs))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_manifest(out)
    assert_each_unit_once(rows, {(f"f{i:02d}.fa", 0) for i in range(160)})
    assert unit_results(out).keys() == {f"f{i:02d}.fa.json" for i in range(160)}
    for r in rows:
        result = json.loads((out / r["output"]).read_text())
        assert result["ids_sha256"] == expected_ids_sha256(inputs / r["file"])
    stolen = [r for r in rows if r["stolen"]]
    assert stolen and all(r["device_index"] == 0 for r in stolen)


def test_gpus_all_on_a_cluster_without_gpus_is_a_usage_error(cluster, tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 1, seqs=2)
    proc = lbtui("--backend", "ray", "--ray-address", cluster, "--gpus", "all", "--out",
                 str(tmp_path / "out"), str(inputs))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "lbtui: error: --gpus all: the Ray cluster has no GPUs; use cpu:N or sim:S1,S2,..."]
    assert not (tmp_path / "out").exists()


def test_without_ray_installed_backend_ray_is_one_line_exit_2(tmp_path) -> None:
    inputs = make_inputs(tmp_path / "in", 1, seqs=2)
    # sys.modules['ray'] = None makes every `import ray` raise ImportError, as if not installed.
    code = ("import sys; sys.modules['ray'] = None\n"
            "from lbtui.cli import main\n"
            f"sys.exit(main(['run', '--headless', '--backend', 'ray', '--gpus', 'sim:1', "
            f"'--out', {str(tmp_path / 'out')!r}, {str(inputs)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "lbtui: error: --backend ray: ray is not installed; in lbtui's folder: .venv/bin/pip install -e '.[ray]' "
        "(make install includes it)"]
    assert not (tmp_path / "out").exists()
