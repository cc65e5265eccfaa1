"""Which torch build this machine needs, and whether the installed one works.

Used by ``scripts/install_torch.sh`` (run by ``make install``); standard
library only, so it runs before torch is there. Commands, each printing one
line (errors: one line on stderr, exit 1)::

    torch_wheel.py installed       # "absent" or "<version> <cuda X.Y|cpu>"
    torch_wheel.py plan --version V --min M --installed "..." [--works] [--build cpu|cuXYZ]
                        [--index URL] [--driver-cuda X.Y --caps 8.0,9.0]
        # "keep <expect>" or "install <expect> <requirement> [<requirement> ...]"
    torch_wheel.py fetch --pip PIP --dir DIR (plan's arguments)
        # downloads torch and its dependencies into DIR, trying each source in turn;
        # prints the requirement it got (torch_fetch.py)
    torch_wheel.py verify --expect cpu|cuda-build|cuda [--cuda X.Y]
        # imports torch; cuda: is_available() and a tiny kernel (and cuBLAS) on every GPU

``expect`` says what the verification checks: ``cpu`` (torch imports and
computes), ``cuda-build`` (a CUDA build, on a machine without a GPU: a login
node, an image being built), ``cuda`` (it runs on every GPU here).

An installed torch is kept when it is at least ``--min`` and fits: any build
without a GPU (unless ``--build`` asks for another), a CUDA build that passed
``verify --expect cuda`` on a GPU machine (``--works``). Otherwise ``--version``
is installed, from pip's configured index first (PyPI's default Linux wheel is
a CUDA build: the downloaded wheel's CUDA version is checked against the one
wanted) and PyTorch's index for that build only as an extra index.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# PyTorch's own index, an extra one for the builds PyPI does not serve (the install
# tests point it at a port where nothing listens).
PYTORCH_INDEX = os.environ.get("TORCH_PYTORCH_INDEX", "https://download.pytorch.org/whl/").rstrip("/") + "/"


@dataclass(frozen=True)
class Build:
    tag: str  # "cu130": the index https://download.pytorch.org/whl/cu130 and the local version label
    min_driver_cuda: tuple[int, int]  # the CUDA version nvidia-smi must report (minor-version compatibility)
    min_cc: tuple[int, int]  # oldest GPU generation with kernels in the wheel
    max_cc: tuple[int, int]  # newest


# PyTorch 2.13's Linux x86_64 CUDA builds (pytorch/pytorch RELEASE.md, "PyTorch CUDA
# Support Matrix"), preferred first. cu130 is the PyPI default: Turing (sm 7.5) to
# Blackwell (12.0), driver >= 580. cu126 is the legacy build: Maxwell (5.0) to Hopper
# (9.0), any CUDA 12 driver (>= 525, through CUDA minor-version compatibility). cu132
# is experimental and not chosen. TORCH_CUDA_BUILDS overrides this for another release.
BUILDS: dict[str, tuple[Build, ...]] = {
    "2.13": (
        Build("cu130", (13, 0), (7, 5), (12, 0)),
        Build("cu126", (12, 0), (5, 0), (9, 0)),
    ),
}


class Refusal(Exception):
    """No build fits: one line saying why and what to do."""


def version_pair(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+)?\s*", text)
    if not match:
        raise ValueError(f"not a version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def show(pair: tuple[int, int]) -> str:
    return f"{pair[0]}.{pair[1]}"


def parse_builds(text: str) -> tuple[Build, ...]:
    """TORCH_CUDA_BUILDS: "cu130:13.0:7.5:12.0 cu126:12.0:5.0:9.0" (tag:driver CUDA:min cc:max cc)."""
    builds = []
    for item in text.split():
        tag, driver, low, high = item.split(":")
        builds.append(Build(tag, version_pair(driver), version_pair(low), version_pair(high)))
    return tuple(builds)


def builds_for(version: str, override: str | None = None) -> tuple[Build, ...]:
    if override:
        return parse_builds(override)
    major_minor = ".".join(version.split("+")[0].split(".")[:2])
    if major_minor not in BUILDS:
        raise Refusal(f"no CUDA build table for torch {version}: choose a build with TORCH_BUILD=cuXYZ "
                      "or describe them in TORCH_CUDA_BUILDS")
    return BUILDS[major_minor]


def choose(builds: tuple[Build, ...], driver_cuda: tuple[int, int], caps: list[tuple[int, int]],
           version: str) -> Build:
    """The first build that runs on every GPU here under this driver; Refusal otherwise."""
    for build in builds:
        if driver_cuda >= build.min_driver_cuda and all(build.min_cc <= c <= build.max_cc for c in caps):
            return build
    covering = [b for b in builds if all(b.min_cc <= c <= b.max_cc for c in caps)]
    if covering:
        need = min(covering, key=lambda b: b.min_driver_cuda)
        raise Refusal(f"the NVIDIA driver supports CUDA {show(driver_cuda)}; torch {version} for these GPUs "
                      f"needs CUDA {show(need.min_driver_cuda)} or newer ({need.tag}): update the driver, "
                      "or choose a build: make install TORCH_BUILD=cuXYZ")
    unsupported = [c for c in caps if not any(b.min_cc <= c <= b.max_cc for b in builds)]
    if unsupported:
        ranges = ", ".join(f"{b.tag} {show(b.min_cc)}-{show(b.max_cc)}" for b in builds)
        raise Refusal(f"no torch {version} build runs on compute capability {show(min(unsupported))} "
                      f"(builds: {ranges})")
    raise Refusal(f"no torch {version} build has kernels for both compute capability {show(min(caps))} "
                  f"and {show(max(caps))}: choose one with make install TORCH_BUILD=cuXYZ and run "
                  f"lbtui with --gpus on the GPUs it supports")


def index_tag(index: str) -> str | None:
    """"cu130" / "cpu" for PyTorch's own indices, None for any other (a mirror)."""
    match = re.fullmatch(r"https?://download\.pytorch\.org/whl/(?:[a-z]+/)?(cu\d+|cpu)/?", index.strip())
    return match.group(1) if match else None


def cuda_of_tag(tag: str) -> str | None:
    """"cu130" -> "13.0", "cu126" -> "12.6", "cpu" -> None."""
    return None if tag == "cpu" else f"{tag[2:-1]}.{tag[-1]}"


def release(version: str) -> tuple[int, ...]:
    """"2.13.0+cu130" -> (2, 13, 0); "2.11.0a0+git1234" -> (2, 11, 0)."""
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0].split("a")[0].split("rc")[0])[:3])


@dataclass(frozen=True)
class Source:
    """One place to try: ``requirement`` with these pip index options; the wheel it
    gives must be built for ``cuda`` ("12.6"; "" for a CPU build; None: any)."""

    requirement: str
    index_args: tuple[str, ...]
    cuda: str | None

    def describe(self) -> str:
        where = " ".join(self.index_args) or "pip's configured index"
        return f"{self.requirement} ({where})"


@dataclass(frozen=True)
class Plan:
    action: str  # "keep" or "install"
    expect: str  # what verify checks afterwards
    sources: tuple[Source, ...] = ()
    cuda: str | None = None  # the CUDA version verify insists on (a build that was asked for)

    def render(self) -> str:
        return " ".join([self.action, self.expect, self.cuda or "-", *(s.requirement for s in self.sources)])


def sources_for(version: str, tag: str, default_tag: str | None) -> tuple[Source, ...]:
    """Where build ``tag`` of ``version`` comes from: the configured index first when
    it is PyPI's default build (PyPI's wheel has no local label), then PyTorch's index
    for that build as an extra one (pinned ``+tag``, so a wheel of another build in
    pip's find-links can never win)."""
    want = cuda_of_tag(tag) or ""
    extra = Source(f"torch=={version}+{tag}", ("--extra-index-url", f"{PYTORCH_INDEX}{tag}"), want)
    if tag == default_tag:
        return Source(f"torch=={version}", (), want), extra
    return (extra,)


def default_build(version: str, override: str | None) -> str | None:
    try:
        return builds_for(version, override)[0].tag
    except Refusal:
        return None


def plan(version: str, installed: str, *, minimum: str | None = None, works: bool = False,
         build: str | None = None, index: str | None = None, driver_cuda: str | None = None,
         caps: str | None = None, builds_override: str | None = None) -> Plan:
    """What install_torch.sh does (see the module docstring); Refusal when nothing fits."""
    have_version, have_cuda = (None, None) if installed.strip() in ("", "absent") else installed.split()
    recent = have_version is not None and release(have_version) >= release(minimum or version)
    gpu = bool(caps)
    if build or index:
        tag = build or index_tag(index or "")
        expect = "cpu" if tag == "cpu" else ("cuda" if gpu else "cuda-build")
        cuda = cuda_of_tag(tag) if tag else None
        same_build = tag is not None and have_cuda == (cuda or "cpu")
        if recent and same_build and (works or not gpu or tag == "cpu"):
            return Plan("keep", expect, cuda=cuda)
        if index:
            pin = f"torch=={version}" + (f"+{tag}" if tag else "")
            want = None if tag is None else (cuda or "")  # a mirror: whatever it serves, verified after
            return Plan("install", expect, (Source(pin, ("--index-url", index.strip()), want),), cuda)
        return Plan("install", expect, sources_for(version, tag, default_build(version, builds_override)), cuda)
    if not gpu:
        if recent:
            return Plan("keep", "cpu" if have_cuda == "cpu" else "cuda-build")
        return Plan("install", "cpu", sources_for(version, "cpu", None))
    if recent and have_cuda != "cpu" and works:
        return Plan("keep", "cuda")
    if caps.strip() == "unknown" or not driver_cuda:
        raise Refusal("nvidia-smi shows a GPU but not its CUDA version or compute capability (a driver "
                      "before 510?): update the driver, or choose a build: make install TORCH_BUILD=cuXYZ")
    gpu_caps = [version_pair(c) for c in caps.split(",") if c.strip()]
    builds = builds_for(version, builds_override)
    chosen = choose(builds, version_pair(driver_cuda), gpu_caps, version)
    return Plan("install", "cuda", sources_for(version, chosen.tag, builds[0].tag), cuda_of_tag(chosen.tag))


def installed() -> str:
    try:
        import torch
    except Exception:  # absent, or broken: either way it has to be (re)installed
        return "absent"
    return f"{torch.__version__} {torch.version.cuda or 'cpu'}"


def verify(expect: str, cuda: str | None = None) -> str:
    """One line saying what works; Refusal saying what does not."""
    try:
        import torch
    except Exception as exc:
        raise Refusal(f"torch does not import after install: {type(exc).__name__}: {exc}") from None
    built = torch.version.cuda
    name = f"torch {torch.__version__}"
    if expect == "cpu":
        if float(torch.ones(4).sum()) != 4.0:
            raise Refusal(f"{name} computes wrong sums on the CPU")
        return f"{name} (CPU) works"
    if not built:
        raise Refusal(f"{name} is a CPU build: install a CUDA build with make install TORCH_BUILD=cuXYZ")
    if cuda and built != cuda:
        raise Refusal(f"{name} is built for CUDA {built}, not {cuda}")
    if expect == "cuda-build":
        return f"{name} (CUDA {built}) installed; no GPU here to try it on"
    if not torch.cuda.is_available():
        raise Refusal(f"{name} (CUDA {built}) sees no usable GPU: torch.cuda.is_available() is False "
                      "(is the driver older than the build needs?)")
    for i in range(torch.cuda.device_count()):
        gpu = f"cuda:{i} ({torch.cuda.get_device_name(i)}, compute capability "\
              f"{'.'.join(map(str, torch.cuda.get_device_capability(i)))})"
        try:
            x = torch.ones(64, 64, device=f"cuda:{i}", dtype=torch.float16)
            total = float((x @ x).float().sum())  # an elementwise kernel and a cuBLAS half matmul
            torch.cuda.synchronize(i)
        except Exception as exc:
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Refusal(f"{name} cannot run on {gpu}: {line}") from None
        if total != 64.0 ** 3:
            raise Refusal(f"{name} computes wrong results on {gpu}")
    return f"{name} (CUDA {built}) works on {torch.cuda.device_count()} GPU(s)"


def plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", required=True)
    parser.add_argument("--min", dest="minimum")
    parser.add_argument("--installed", required=True)
    parser.add_argument("--works", action="store_true", help="the installed CUDA torch passed verify --expect cuda")
    parser.add_argument("--build", help="cpu, cu126, cu128, cu130 ... (TORCH_BUILD)")
    parser.add_argument("--index")
    parser.add_argument("--driver-cuda")
    parser.add_argument("--caps")
    parser.add_argument("--builds")


def plan_from(args: argparse.Namespace) -> Plan:
    build = (args.build or "").strip().lower() or None
    if build is not None and not re.fullmatch(r"cpu|cu\d{3,}", build):
        raise Refusal(f"TORCH_BUILD={args.build}: expected cpu or cuXYZ (cu126, cu128, cu130)")
    return plan(args.version, args.installed, minimum=args.minimum, works=args.works, build=build,
                index=args.index or None, driver_cuda=args.driver_cuda, caps=args.caps,
                builds_override=args.builds or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torch_wheel.py")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("installed")
    plan_args(sub.add_parser("plan"))
    f = sub.add_parser("fetch")
    plan_args(f)
    f.add_argument("--pip", required=True)
    f.add_argument("--dir", required=True, type=Path)
    v = sub.add_parser("verify")
    v.add_argument("--expect", choices=("cpu", "cuda-build", "cuda"), required=True)
    v.add_argument("--cuda")
    args = parser.parse_args(argv)
    try:
        if args.command == "installed":
            print(installed())
        elif args.command == "plan":
            print(plan_from(args).render())
        elif args.command == "fetch":
            from torch_fetch import FetchError, fetch

            try:
                print(fetch(args.pip, plan_from(args).sources, args.dir))
            except FetchError as exc:
                raise Refusal(str(exc)) from None
        else:
            print(verify(args.expect, args.cuda or None))
    except (Refusal, ValueError) as exc:
        print(f"install_torch: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
