"""``lbtui models fetch`` against a local stand-in of the models' hosts (tests/helpers/model_mirror.py).

No network here: the mirror serves demo models under the real names and paths,
and answers as the real hosts do (ranges, Hugging Face's ETag and redirect headers).
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lbtui.cli import main as cli
from tests.helpers.model_mirror import COMMIT, Mirror, build

pytestmark = pytest.mark.slow  # the mirror's stand-ins are demo models (torch)
REPO = Path(__file__).resolve().parents[2]
LAYOUT = ["500_model.pth", "dnabert/config.json", "dnabert/pytorch_model.bin", "dnabert/tokenizer.json",
          "esm/esm2_t36_3B_UR50D-contact-regression.pt", "esm/esm2_t36_3B_UR50D.pt"]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mirror")
    build(folder)
    return folder


@pytest.fixture
def mirror(site, monkeypatch):
    monkeypatch.setenv("LBTUI_MODELS_PINS", str(site / "pins.json"))
    monkeypatch.delenv("LBTUI_MODELS_MIRROR", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    with Mirror(site) as m:
        yield m


def fetch(models: Path, mirror: Mirror, *extra: str) -> int:
    return cli(["models", "fetch", str(models), "--mirror", mirror.url, *extra])


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.rglob("*.part*"))


def test_fetch_lays_out_the_models_records_every_sha256_and_checks_the_folder(tmp_path, mirror, site):
    models = tmp_path / "models"
    env = {"LBTUI_MODELS_PINS": str(site / "pins.json"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "lbtui.cli", "models", "fetch", str(models), "--mirror", mirror.url],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("ok")  # models check ran on the folder
    assert "checksums   6 files match" in done.stdout
    record = json.loads((models / "models.json").read_text())
    assert sorted(record["files"]) == LAYOUT
    for dest, entry in record["files"].items():
        assert entry["sha256"] == sha256_of(models / dest) and entry["size"] == (models / dest).stat().st_size
    # what each file was checked against
    assert "sha256 (the Hugging Face ETag)" in record["files"]["dnabert/pytorch_model.bin"]["checked"]
    assert "git blob id (the Hugging Face ETag)" in record["files"]["dnabert/config.json"]["checked"]
    assert "git blob id (lbtui's pin)" in record["files"]["500_model.pth"]["checked"]
    # "main" resolved to a commit: the rest of DNABERT-S came from that commit, and it is recorded
    assert record["dnabert_revision"] == COMMIT
    assert mirror.requests(f"/resolve/{COMMIT}/pytorch_model.bin")
    assert any(r[1].startswith("/cdn/") for r in mirror.log)  # the LFS redirect was followed
    # a progress line per quarter of a file, without a terminal
    assert "dnabert/pytorch_model.bin: 100% (" in done.stderr and "esm/esm2_t36_3B_UR50D.pt: 0% (" in done.stderr
    assert leftovers(models) == []


def test_a_cut_download_resumes_where_it_stopped(tmp_path, mirror, capsys):
    models = tmp_path / "models"
    mirror.cut["/pytorch_model.bin"] = 50_000
    assert fetch(models, mirror, "--retries", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "download cut" in err[-1] and "run the same command again to resume" in err[-1]
    assert not (models / "dnabert" / "pytorch_model.bin").exists()  # never under its final name half-written
    assert (models / "dnabert" / "pytorch_model.bin.part").stat().st_size == 50_000
    assert fetch(models, mirror) == 0
    assert [r[2] for r in mirror.requests("/pytorch_model.bin")][-1] == "bytes=50000-"
    assert leftovers(models) == []
    record = json.loads((models / "models.json").read_text())
    assert record["files"]["dnabert/pytorch_model.bin"]["sha256"] == sha256_of(models / "dnabert/pytorch_model.bin")


def test_a_cut_download_is_resumed_within_the_same_command(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr("virnucpro_bridge.tasks.virnucpro.fetch.download.RETRY_PAUSES_S", (0.01,))
    mirror.cut["/esm2_t36_3B_UR50D.pt"] = 10_000
    assert fetch(tmp_path / "models", mirror) == 0
    assert [r[2] for r in mirror.requests("/models/esm2_t36_3B_UR50D.pt")] == ["", "bytes=10000-"]


@pytest.mark.parametrize("path, what", [("/pytorch_model.bin", "sha256"), ("/500_model.pth", "git blob id")])
def test_a_bad_checksum_is_refused_in_one_line_and_nothing_is_kept(tmp_path, mirror, capsys, path, what):
    models = tmp_path / "models"
    mirror.corrupt.add(path)
    assert fetch(models, mirror) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lbtui: error: ") and f"{what} " in err[-1] and "does not match" in err[-1]
    name = path.lstrip("/")
    assert not list(models.rglob(name)) and leftovers(models) == []
    assert name not in json.dumps(json.loads((models / "models.json").read_text())["files"])


def test_the_real_classifier_pin_refuses_a_stand_in(tmp_path, mirror, monkeypatch, capsys):
    monkeypatch.delenv("LBTUI_MODELS_PINS")
    assert fetch(tmp_path / "models", mirror) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("lbtui: error: 500_model.pth: git blob id ") and "from lbtui's pin" in last
    assert "fc35d5ef9f1f..." in last  # upstream's own 500_model.pth


def test_an_unreachable_host_fails_in_seconds_saying_how_to_fetch_by_hand(tmp_path, capsys):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert cli(["models", "fetch", str(tmp_path / "m"), "--mirror", f"http://127.0.0.1:{port}"]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"lbtui: error: cannot reach 127.0.0.1:{port}")
    assert f"lbtui models fetch {tmp_path / 'm'} --urls" in err[-1]


def test_a_host_that_never_answers_fails_after_the_timeout(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # connections are accepted by the kernel, never answered
        started = time.monotonic()
        code = cli(["models", "fetch", str(tmp_path / "m"), "--mirror",
                    f"http://127.0.0.1:{s.getsockname()[1]}", "--timeout", "1"])
    assert code == 2 and time.monotonic() - started < 10
    assert "no answer (timed out)" in capsys.readouterr().err


def test_urls_prints_a_curl_command_per_file_with_the_publishers_urls(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LBTUI_MODELS_MIRROR", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert cli(["models", "fetch", str(tmp_path / "m"), "--urls", "--chunk-length", "300"]) == 0
    lines = capsys.readouterr().out.splitlines()
    urls = [line.split("   #")[0].split()[-1] for line in lines]
    assert urls == [
        "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t36_3B_UR50D.pt",
        "https://dl.fbaipublicfiles.com/fair-esm/regression/esm2_t36_3B_UR50D-contact-regression.pt",
        "https://huggingface.co/zhihan1996/DNABERT-S/resolve/main/config.json",
        "https://huggingface.co/zhihan1996/DNABERT-S/resolve/main/tokenizer.json",
        "https://huggingface.co/zhihan1996/DNABERT-S/resolve/main/pytorch_model.bin",
        "https://raw.githubusercontent.com/Li-Jing-1997/VirNucPro/0f93f2755a7ea1acd3ff1bcf182892f960ef3326/300_model.pth",
    ]
    assert all(line.startswith("curl -fL -C - --create-dirs -o ") for line in lines)
    assert not (tmp_path / "m").exists()  # --urls writes nothing


def test_a_second_fetch_skips_what_is_there_and_files_lbtui_did_not_fetch_are_not_touched(tmp_path, mirror, capsys):
    models = tmp_path / "models"
    assert fetch(models, mirror) == 0
    before = len(mirror.log)
    assert fetch(models, mirror, "--chunk-length", "300") == 0  # adds 300_model.pth only
    assert [r[1].rsplit("/", 1)[-1] for r in mirror.log[before:]] == ["300_model.pth"]
    (models / "models.json").unlink()
    capsys.readouterr()
    assert fetch(models, mirror) == 2
    assert "already there but not fetched by lbtui" in capsys.readouterr().err


def test_models_check_notices_a_damaged_or_swapped_file(tmp_path, mirror, capsys):
    models = tmp_path / "models"
    assert fetch(models, mirror) == 0
    target = models / "dnabert" / "tokenizer.json"
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli(["models", "check", str(models)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "differs from the" in err[-1] and str(target) in err[-1]
    assert "lbtui models fetch" in err[-1]


def test_from_cache_copies_upstreams_downloads_and_checks_them_by_their_blob_names(tmp_path, site, monkeypatch):
    """The torch hub and Hugging Face caches as fair-esm and huggingface_hub leave them."""
    from tests.helpers.model_mirror import git_blob_id

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    fair = site / "site" / "fair-esm"
    for src in (fair / "models").iterdir():
        (hub / src.name).write_bytes(src.read_bytes())
    for src in (fair / "regression").iterdir():
        (hub / src.name).write_bytes(src.read_bytes())
    repo = tmp_path / "hf" / "models--zhihan1996--DNABERT-S"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for src in (site / "site" / "zhihan1996" / "DNABERT-S" / "resolve" / "main").iterdir():
        data = src.read_bytes()
        blob = sha256_of(src) if src.suffix == ".bin" else git_blob_id(data)
        (repo / "blobs" / blob).write_bytes(data)
        (snapshot / src.name).symlink_to(Path("../../blobs") / blob)
    upstream = tmp_path / "VirNucPro"
    upstream.mkdir()
    (upstream / "500_model.pth").write_bytes(next((site / "site" / "Li-Jing-1997").rglob("500_model.pth")).read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("VIRNUCPRO_DIR", str(upstream))
    monkeypatch.setenv("LBTUI_MODELS_PINS", str(site / "pins.json"))
    code = f"import sys; from lbtui.cli import main; sys.exit(main(['models', 'fetch', {str(tmp_path / 'm')!r}, " \
           "'--from-cache']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "m" / "models.json").read_text())
    assert sorted(record["files"]) == LAYOUT and record["dnabert_revision"] == COMMIT
    assert "cache blob name" in record["files"]["dnabert/pytorch_model.bin"]["checked"]
    # a cache blob that is not what its name says is refused
    bad = next(p for p in (repo / "blobs").iterdir() if len(p.name) == 64)
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    done = subprocess.run([sys.executable, "-c", code.replace(str(tmp_path / "m"), str(tmp_path / "m2"))],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "does not match" in done.stderr.strip().splitlines()[-1]


def test_two_fetches_into_one_folder_do_not_mix(tmp_path, mirror, capsys):
    models = tmp_path / "models"
    models.mkdir()
    import fcntl

    with open(models / ".models-fetch.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert fetch(models, mirror) == 2
    assert "another lbtui models fetch is writing this folder" in capsys.readouterr().err


def test_demo_models_are_never_overwritten(tmp_path, mirror, capsys):
    assert cli(["models", "init-demo", str(tmp_path / "demo")]) == 0
    assert fetch(tmp_path / "demo", mirror) == 2
    assert "holds demo models" in capsys.readouterr().err


def test_progress_bar_on_a_terminal():
    import io

    from lbtui.models_fetch import Bars
    from virnucpro_bridge.tasks.virnucpro.fetch.sources import catalogue

    out, ticks = io.StringIO(), iter([0.0, 0.0, 1.0, 2.0, 2.0])
    bars = Bars(out, tty=True, clock=lambda: next(ticks))
    file = catalogue(500)[0]
    bars.begin(file, "x")
    bars.progress("get", 0, 1000)
    bars.progress("get", 500, 1000)
    bars.progress("get", 1000, 1000)
    frames = out.getvalue().split("\r")[1:]
    assert "[------------------------]   0%" in frames[0]
    assert "[############------------]  50% 500 B of 1.00 kB  500 B/s" in frames[1]
    assert "100%" in frames[2]
