"""The MLP classifier: state dicts, upstream's pickled module, and safe unpickling."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from virnucpro_bridge.errors import TaskError
from virnucpro_bridge.tasks.virnucpro.classifier import (
    MLPClassifier,
    classify,
    load_classifier,
)

# Upstream's class as train.py defines it; train.py runs as a script, so the
# pickle it saves names ``__main__.MLPClassifier``.
UPSTREAM_TRAIN = textwrap.dedent('''
    import sys
    import torch
    from torch import nn
    import torch.nn.functional as F

    class MLPClassifier(nn.Module):
        def __init__(self, input_dim, hidden_dim, num_class):
            super(MLPClassifier, self).__init__()
            self.hidden_layer = nn.Linear(input_dim, hidden_dim)
            self.bn1 = nn.BatchNorm1d(hidden_dim)
            self.output_layer = nn.Linear(hidden_dim, num_class)
            self.dropout = nn.Dropout(0.5)

        def forward(self, x):
            x = self.hidden_layer(x)
            x = self.bn1(x)
            x = F.relu(x)
            x = self.dropout(x)
            return self.output_layer(x)

    torch.manual_seed(3)
    model = MLPClassifier(int(sys.argv[2]), 12, 2)
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
    model.train()  # saved as it was at the end of training
    torch.save(model, sys.argv[1])
    torch.save(model.state_dict(), sys.argv[1] + ".state")
''')

EVIL = textwrap.dedent('''
    import sys, torch, os
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + sys.argv[1] + ".pwned",))
    torch.save({"hidden_layer.weight": Evil()}, sys.argv[1])
''')


def run_script(tmp_path, source, *args):
    script = tmp_path / "script.py"
    script.write_text(source)
    subprocess.run([sys.executable, str(script), *map(str, args)], check=True, cwd=tmp_path)


@pytest.mark.slow  # runs upstream's code in a subprocess
def test_upstream_pickle_and_state_dict_give_the_same_model(tmp_path):
    path = tmp_path / "500_model.pth"
    run_script(tmp_path, UPSTREAM_TRAIN, path, 20)
    pickled = load_classifier(path)
    from_state = load_classifier(str(path) + ".state")
    assert isinstance(pickled, MLPClassifier) and not pickled.training  # eval mode
    x = torch.randn(5, 20, generator=torch.Generator().manual_seed(0))
    a, b = classify(pickled, x), classify(from_state, x)
    assert torch.equal(a, b)
    assert torch.allclose(a.sum(1), torch.ones(5))
    # eval mode: BatchNorm uses running statistics, so a row alone scores the same
    assert torch.equal(classify(pickled, x[:1]), a[:1])


@pytest.mark.slow  # runs upstream's code in a subprocess
def test_unpickling_never_runs_code(tmp_path):
    path = tmp_path / "evil.pth"
    run_script(tmp_path, EVIL, path)
    with pytest.raises(TaskError, match="evil.pth: not a VirNucPro classifier"):
        load_classifier(path)
    assert not (tmp_path / "evil.pth.pwned").exists()


def test_wrong_architecture_and_missing_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2)).state_dict(), path)
    with pytest.raises(TaskError, match="other.pth: not the VirNucPro MLP classifier"):
        load_classifier(path)
    three = tmp_path / "three.pth"
    torch.save(MLPClassifier(4, 3, 3).state_dict(), three)
    with pytest.raises(TaskError, match="3 outputs, expected 2"):
        load_classifier(three)
    with pytest.raises(TaskError, match="nope.pth: classifier not found"):
        load_classifier(tmp_path / "nope.pth")


def test_classify_rows_do_not_depend_on_their_neighbours():
    torch.manual_seed(0)
    model = MLPClassifier(8, 6).eval()
    x = torch.randn(600, 8)
    whole = classify(model, x)
    parts = torch.cat([classify(model, x[i:i + 77]) for i in range(0, 600, 77)])
    assert torch.equal(whole, parts)
