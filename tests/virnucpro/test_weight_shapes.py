"""The weight shapes the main process checks folders against are written out (no
model built, so no torch._dynamo import at start-up); here they are held to the
models themselves, built on the meta device."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from virnucpro_bridge.tasks.virnucpro.dnabert import DnabertConfig, MosaicBert
from virnucpro_bridge.tasks.virnucpro.dnabert_folder import expected_shapes
from virnucpro_bridge.tasks.virnucpro.esm_checkpoint import EsmInfo, _meta_model, esm2_shapes


def shapes_of(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("info", [EsmInfo(2, 64, 4), EsmInfo(3, 60, 4), EsmInfo(1, 2560, 40)])
def test_esm2_shapes_are_fair_esm_s_own(info):
    assert esm2_shapes(info) == shapes_of(_meta_model(info))


@pytest.mark.parametrize("config", [DnabertConfig(4096, 768, 12, 12, 3072), DnabertConfig(37, 48, 2, 4, 96, 1)])
def test_dnabert_shapes_are_our_encoder_s(config):
    with torch.device("meta"):
        model = MosaicBert(config)
    assert expected_shapes(config) == shapes_of(model)


def test_the_main_process_check_builds_no_model(demo_models):
    """``lbtui run`` checks every model file before a worker starts; that check must
    not pay for torch's meta-device machinery (torch._dynamo, ~1.5 s of start-up)."""
    code = ("import sys; from virnucpro_bridge.tasks.virnucpro import VirNucProTask; "
            f"VirNucProTask({{'models': {str(demo_models)!r}}}).check(); "
            "print('torch._dynamo' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
