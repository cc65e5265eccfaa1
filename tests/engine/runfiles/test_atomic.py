"""Atomic writes: a result is whole or absent; temp files are per writer and cleaned up."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from virnucpro_bridge.runfiles.atomic import (
    TMP_PREFIX,
    atomic_open,
    atomic_write_text,
    remove_stale_temps,
    temp_path,
)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TMP_PREFIX))


def test_writes_the_text_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "u.json"  # its folders are made on the way
    atomic_write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    with atomic_open(tmp_path / "b.bin", "wb") as fh:
        fh.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert temps(tmp_path) == [] and temps(target.parent) == []


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("the writer fails mid-way")
    assert target.read_text() == "old\n"
    assert temps(tmp_path) == []


def test_the_file_is_created_under_the_umask_like_open(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "r.json", "{}\n")
        with open(tmp_path / "plain", "w") as fh:
            fh.write("{}\n")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "r.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640


def test_temp_names_are_per_thread_and_short(tmp_path: Path) -> None:
    target = tmp_path / "u.json"
    names = {temp_path(target).name}
    other = threading.Thread(target=lambda: names.add(temp_path(target).name))
    other.start()
    other.join()
    assert len(names) == 2 and all(n.startswith(TMP_PREFIX) and n.endswith("-u.json") for n in names)
    assert f"{TMP_PREFIX}{os.getpid()}-u.json" in names  # the main thread's kernel id is the pid
    assert max(len(n) for n in names) <= len("u.json") + len(TMP_PREFIX) + 8  # kernel ids: 7 digits at most


def test_a_stale_temp_of_the_same_name_is_overwritten(tmp_path: Path) -> None:
    """A dead writer's temp (its pid came back to this process) is truncated, not appended to,
    both by a streamed write and by a result replacing an existing one."""
    target = tmp_path / "u.json"
    temp_path(target).write_text("x" * 10_000)
    with atomic_open(target) as fh:
        fh.write("new\n")
    assert target.read_text() == "new\n" and temps(tmp_path) == []
    temp_path(target).write_text("x" * 10_000)
    atomic_write_text(target, "newer\n")
    assert target.read_text() == "newer\n" and temps(tmp_path) == []


def unnamed_files_work(folder: Path) -> bool:
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
    except (AttributeError, OSError):
        return False
    return True


def test_a_result_is_written_without_a_name_and_a_dying_writer_leaves_nothing(tmp_path: Path) -> None:
    if not unnamed_files_work(tmp_path):
        pytest.skip("no O_TMPFILE here: results use temp names (the other tests)")
    target = tmp_path / "u.json"
    pid = os.fork()
    if pid == 0:  # the writer: dies after its write, before the file gets its name
        try:
            os.link = lambda *args, **kwargs: os._exit(0)
            atomic_write_text(target, "half a result\n")
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert list(tmp_path.iterdir()) == []  # not even a temp file to clean up


def test_without_unnamed_files_results_use_a_temp_name(tmp_path: Path, monkeypatch) -> None:
    from virnucpro_bridge.runfiles import atomic

    monkeypatch.setattr(atomic, "_O_TMPFILE", 0)
    target = tmp_path / "u.json"
    atomic_write_text(target, "one\n")
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n" and temps(tmp_path) == []


def test_threads_writing_one_file_never_mix_their_contents(tmp_path: Path) -> None:
    """Each thread has its own temp name: the file is always one writer's whole text."""
    target = tmp_path / "summary.json"
    texts = [f"{i}" * 50_000 + "\n" for i in range(4)]
    seen: set[str] = set()
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(200):
                atomic_write_text(target, text)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        try:
            seen.add(target.read_text())
        except FileNotFoundError:  # before the first rename
            pass
    for t in threads:
        t.join()
    assert not errors
    assert seen <= set(texts) and target.read_text() in texts
    assert temps(tmp_path) == []


def test_a_writer_killed_mid_write_leaves_only_a_temp_that_cleanup_removes(tmp_path: Path) -> None:
    target = tmp_path / "u.json"
    pid = os.fork()
    if pid == 0:  # the writer: dies between its write and the rename
        try:
            with atomic_open(target) as fh:
                fh.write("half")
                fh.flush()
                os._exit(0)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not target.exists()
    assert temps(tmp_path) == [f"{TMP_PREFIX}{pid}-u.json"]  # the child's main thread: its pid
    assert remove_stale_temps(tmp_path) == 1
    assert temps(tmp_path) == []
