"""A local stand-in for the models' publishers: demo models under the real names, over HTTP.

``build(folder)`` lays demo models (``lbtui models init-demo``) out as the real
hosts serve the real files, path for path (``--mirror URL`` keeps each URL's
path), and writes ``pins.json``: the stand-ins' checksums, to put in
``$LBTUI_MODELS_PINS`` in place of the real classifiers' pinned git blob ids.
``Mirror`` serves that folder from a thread the way the real hosts answer:

* Range and If-Range requests (206, 416), as a CDN does;
* under ``/resolve/``, as huggingface.co does: ``X-Repo-Commit``; a small file
  with its git blob id as ``ETag``; a ``.bin`` (an LFS file) as a 302 to
  ``/cdn/<sha256>`` carrying ``X-Linked-Etag`` and ``X-Linked-Size``;
* faults on demand: ``cut`` (path suffix -> bytes: the next answer for that path
  stops after that many bytes), ``corrupt`` (path suffixes served with one byte
  changed, under the true checksum's headers); every request is logged.

Run it by hand to try ``lbtui models fetch`` without a network::

    .venv/bin/python -m tests.helpers.model_mirror /tmp/mirror --port 8765
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import re
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "5e1f0c2d3b4a59687766554433221100ffeeddcc"  # the stand-in DNABERT-S commit "main" resolves to
ESM = "esm2_t36_3B_UR50D"
VIRNUCPRO_COMMIT = "0f93f2755a7ea1acd3ff1bcf182892f960ef3326"
HF_REPO = "zhihan1996/DNABERT-S"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id


def build(folder: Path) -> Path:
    """Demo models laid out as the real hosts serve the real files; returns pins.json."""
    from virnucpro_bridge.tasks.virnucpro.demo_models import init_demo

    models = init_demo(folder / "demo-models")
    layout = {
        f"fair-esm/models/{ESM}.pt": models / "esm" / "esm2_t2_demo.pt",
        f"fair-esm/regression/{ESM}-contact-regression.pt": models / "esm" / "esm2_t2_demo-contact-regression.pt",
        f"{HF_REPO}/resolve/main/config.json": models / "dnabert" / "config.json",
        f"{HF_REPO}/resolve/main/tokenizer.json": models / "dnabert" / "tokenizer.json",
        f"{HF_REPO}/resolve/main/pytorch_model.bin": models / "dnabert" / "pytorch_model.bin",
        f"Li-Jing-1997/VirNucPro/{VIRNUCPRO_COMMIT}/500_model.pth": models / "classifier.pth",
        f"Li-Jing-1997/VirNucPro/{VIRNUCPRO_COMMIT}/300_model.pth": models / "classifier.pth",
    }
    site = folder / "site"
    for rel, source in layout.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, site / rel)
    shutil.copytree(site / HF_REPO / "resolve" / "main", site / HF_REPO / "resolve" / COMMIT)
    blob = git_blob_id((models / "classifier.pth").read_bytes())
    pins = folder / "pins.json"
    pins.write_text(json.dumps({"500_model.pth": {"git_sha1": blob}, "300_model.pth": {"git_sha1": blob}}),
                    encoding="utf-8")
    return pins


class Mirror:
    """Serves ``folder``/site on 127.0.0.1 from a thread (``with Mirror(folder) as m: m.url``)."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        self.site = (folder / "site").resolve()
        self.cut: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.log: list[tuple[str, str, str]] = []  # (method, path, Range header)
        self.lock = threading.Lock()
        mirror = self

        class Handler(_Handler):
            owner = mirror

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def requests(self, suffix: str) -> list[tuple[str, str, str]]:
        with self.lock:
            return [r for r in self.log if r[1].endswith(suffix)]


class _Handler(BaseHTTPRequestHandler):
    owner: Mirror
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet: the owner keeps its own log
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        owner, path = self.owner, self.path.split("?")[0]
        with owner.lock:
            owner.log.append((self.command, path, self.headers.get("Range", "")))
        if path.startswith("/cdn/"):
            found = next((p for p in owner.site.rglob("*.bin") if _sha256(p) == path[5:]), None)
            return self._file(found, body, hf={}) if found else self._status(404)
        target = (owner.site / path.lstrip("/")).resolve()
        if owner.site not in target.parents or not target.is_file():
            return self._status(404)
        if "/resolve/" not in path:
            return self._file(target, body, hf={})
        headers = {"X-Repo-Commit": COMMIT}
        if target.suffix == ".bin":  # an LFS file: huggingface.co redirects to its CDN
            self.send_response(302)
            for k, v in {**headers, "Location": f"/cdn/{_sha256(target)}", "X-Linked-Etag": f'"{_sha256(target)}"',
                         "X-Linked-Size": str(target.stat().st_size), "Content-Length": "0"}.items():
                self.send_header(k, v)
            self.end_headers()
            return None
        return self._file(target, body, hf={**headers, "ETag": f'"{git_blob_id(target.read_bytes())}"'})

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _file(self, target: Path, body: bool, hf: dict[str, str]) -> None:
        owner = self.owner
        data = target.read_bytes()
        rel = "/" + target.resolve().relative_to(owner.site).as_posix()
        if any(rel.endswith(s) for s in owner.corrupt):
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        stamp = email.utils.formatdate(target.stat().st_mtime, usegmt=True)
        start, status = 0, 200
        wanted = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if wanted and self.headers.get("If-Range") in (None, stamp, hf.get("ETag")):
            start = int(wanted.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        for k, v in hf.items():
            self.send_header(k, v)
        self.send_header("Last-Modified", stamp)
        self.send_header("Content-Length", str(len(data) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        cut = next((s for s in owner.cut if rel.endswith(s)), None)
        if cut is not None:
            with owner.lock:
                stop = owner.cut.pop(cut)
            self.wfile.write(data[start:start + stop])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve demo models under the real models' names and paths.")
    p.add_argument("folder", type=Path)
    p.add_argument("--port", type=int, default=8765)
    args = p.parse_args(argv)
    pins = build(args.folder)
    with Mirror(args.folder, args.port) as mirror:
        print(f"serving stand-in models (demo weights) at {mirror.url}; in another shell:", flush=True)
        print(f"  export LBTUI_MODELS_PINS={pins}", flush=True)
        print(f"  lbtui models fetch ~/models --mirror {mirror.url}", flush=True)
        print("Ctrl+C stops it", flush=True)
        try:
            mirror.thread.join()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
