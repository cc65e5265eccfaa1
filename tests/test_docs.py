"""The README and docs/ agree with the program: every option is documented, and the
examples that can run on a CPU run as written.

* Every option of every subcommand appears in a section of README.md or of a doc it
  links to that also names the subcommand (``lbtui models fetch``, ...).
* The README's ``sh`` blocks are run in order, as one shell session, the way a
  newcomer would type them: in a folder with ``.venv`` (this checkout's) and
  ``reads/`` (two demo files), HOME a fresh folder, and ``lbtui models fetch``
  pointed at the local stand-in mirror (tests/helpers/model_mirror.py) through
  LBTUI_MODELS_MIRROR. ``make`` lines are not run here: the Makefile's targets are
  what CI runs and tests/install checks (and ``make test`` would run this test).
* docs/development.md's "Your own task": its ``# mytask.py`` block is written to
  that file and its ``sh`` block run beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbtui.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEMO = REPO / "lbtui" / "demo_data"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
NOT_RUN = ("make ",)  # see the module docstring


def linked_docs() -> list[Path]:
    text = README.read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"\]\((docs/[\w.-]+\.md)(?:#[\w-]+)?\)", text)))
    return [README] + [REPO / n for n in names]


def sections(path: Path) -> list[str]:
    """The file's text cut at every heading (fenced blocks kept whole)."""
    text = path.read_text(encoding="utf-8")
    return re.split(r"^#{1,6} ", text, flags=re.M)


def commands() -> list[tuple[str, list[str]]]:
    """("lbtui models fetch", its long options) for every subcommand."""
    found = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        options = [o for a in parser._actions for o in a.option_strings
                   if o.startswith("--") and o not in ("--help", "--version")]
        if options:
            found.append((path, options))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")

    walk(build_parser(), "lbtui")
    return found


def test_the_readme_links_only_to_docs_that_exist():
    for path in linked_docs():
        assert path.is_file(), f"README links to {path.relative_to(REPO)}, which does not exist"


@pytest.mark.parametrize("command, options", commands(), ids=[c for c, _ in commands()])
def test_every_option_is_documented_with_its_command(command, options):
    texts = [s for path in linked_docs() for s in sections(path) if command in s]
    assert texts, f"no section of the README or its docs names `{command}`"
    missing = [o for o in options if not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", t) for t in texts)]
    assert not missing, f"`{command}` options documented nowhere beside it: {', '.join(missing)}"


def blocks(path: Path, kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang == kind]


def session(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A newcomer's folder: the checkout's .venv, reads/ with two demo files, a fresh HOME."""
    work = tmp_path / "work"
    (work / "reads").mkdir(parents=True)
    (work / "home").mkdir()
    (work / ".venv").symlink_to(Path(sys.prefix))  # the environment running the tests: the checkout's .venv
    for name in ("tiny_sample.fa", "plasmid_mix.fa"):
        shutil.copy(DEMO / name, work / "reads")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LBTUI_", "VIRTUAL_ENV", "HF_"))}
    env.update(HOME=str(work / "home"), PYTHONPATH=str(REPO), TORCH_HOME=str(work / "home" / "torch"))
    return work, env


def run_script(script: str, cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path):
    from tests.helpers.model_mirror import Mirror, build

    lines = [line for body in blocks(README, "sh") for line in body.splitlines()
             if line.strip() and not line.startswith(NOT_RUN)]
    assert any(line.startswith("lbtui models fetch") for line in lines)
    assert any(line.startswith("lbtui run ") for line in lines)
    work, env = session(tmp_path)
    pins = build(tmp_path / "mirror")
    with Mirror(tmp_path / "mirror") as mirror:
        env.update(LBTUI_MODELS_MIRROR=mirror.url, LBTUI_MODELS_PINS=str(pins))
        done = run_script("\n".join(lines), work, env)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    home = work / "home"
    assert (home / "models" / "models.json").is_file()
    per_sequence = home / "run1" / "results" / "tiny_sample.fa" / "prediction_per_sequence.tsv"
    assert per_sequence.is_file() and (home / "run1" / "report.html").is_file()
    without = [row.split("\t")[0] for row in per_sequence.read_text().splitlines() if row.endswith("\tNA")]
    assert without and all(name in done.stdout.splitlines() for name in without)  # the awk example
    assert f"results in {home / 'run1' / 'results'}" in done.stdout  # the run's closing line


@pytest.mark.slow
def test_your_own_task_example_runs_as_written(tmp_path):
    doc = REPO / "docs" / "development.md"
    python = next(b for b in blocks(doc, "python") if b.startswith("# mytask.py"))
    work, env = session(tmp_path)
    (work / "mytask.py").write_text(python, encoding="utf-8")
    script = "source .venv/bin/activate\n" + "\n".join(blocks(doc, "sh"))
    done = run_script(script, work, env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("\t") for line in done.stdout.splitlines() if line.count("\t") == 2]
    assert {r[0] for r in rows} >= {"tiny_sample_1", "plasmid_mix_1"}
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
