"""``lbtui models init-demo``: small random-weight models of the real architectures.

* ESM-2 built with fair-esm's own ``ESM2`` class, saved in fair-esm's checkpoint
  format (``{"model": {"encoder.sentence_encoder.<key>": ...}, "cfg": {"model":
  Namespace(...)}}``, plus a ``-contact-regression.pt`` beside it), so fair-esm's
  ``load_model_and_alphabet_local`` would load it as well as we do;
* a small BERT (transformers ``BertModel``) with a nucleotide tokenizer: 3-mer,
  2-mer and 1-mer word pieces over ACGTN built with ``tokenizers``, saved with
  ``save_pretrained`` so ``AutoTokenizer``/``AutoModel`` load it offline;
* the upstream MLP classifier sized for [BERT hidden + ESM dim] inputs, saved
  as a state dict, with non-trivial BatchNorm statistics.

``demo_models.json`` marks the folder: every run on it says plainly that its
predictions are meaningless. Weights come from a fixed seed: the same bytes
each time, so demo results are reproducible.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .models import DEMO_MARKER, REGRESSION_SUFFIX, offline, quiet_transformers

ESM_NAME = "esm2_t2_demo"
TOKEN_ALPHABET = "ACGTN"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class DemoSpec:
    esm_layers: int = 2
    esm_dim: int = 32
    esm_heads: int = 4
    bert_layers: int = 2
    bert_hidden: int = 32
    bert_heads: int = 2
    classifier_hidden: int = 16
    seed: int = 0


def init_demo(folder: str | Path, spec: DemoSpec = DemoSpec()) -> Path:
    """Write demo models into ``folder`` (created); return it."""
    import torch

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(spec.seed)
    write_esm(root / "esm", spec)
    write_dnabert(root / "dnabert", spec)
    write_classifier(root / "classifier.pth", spec.bert_hidden + spec.esm_dim, spec.classifier_hidden)
    marker = {"demo": True, "note": "random weights: predictions are meaningless", **asdict(spec)}
    (root / DEMO_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return root


def write_esm(folder: Path, spec: DemoSpec) -> Path:
    import torch
    from esm.model.esm2 import ESM2

    model = ESM2(num_layers=spec.esm_layers, embed_dim=spec.esm_dim,
                 attention_heads=spec.esm_heads, alphabet="ESM-1b", token_dropout=True)
    state = model.state_dict()
    regression = {k: state.pop(k) for k in list(state) if k.startswith("contact_head.regression.")}
    cfg = argparse.Namespace(encoder_layers=spec.esm_layers, encoder_embed_dim=spec.esm_dim,
                             encoder_attention_heads=spec.esm_heads, token_dropout=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ESM_NAME}.pt"
    torch.save({"model": {f"encoder.sentence_encoder.{k}": v for k, v in state.items()},
                "cfg": {"model": cfg}}, path)
    torch.save({"model": regression}, folder / f"{ESM_NAME}{REGRESSION_SUFFIX}")
    return path


def nucleotide_vocab() -> dict[str, int]:
    pieces = ["".join(p) for n in (3, 2, 1) for p in itertools.product(TOKEN_ALPHABET, repeat=n)]
    return {tok: i for i, tok in enumerate([*SPECIALS, *pieces])}


def nucleotide_tokenizer():  # -> transformers.PreTrainedTokenizerFast
    """Non-overlapping 3-mers (the tail as a 2- or 1-mer); other letters -> [UNK]."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = nucleotide_vocab()
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(".{1,3}"), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)


def write_dnabert(folder: Path, spec: DemoSpec) -> Path:
    offline()
    quiet_transformers()
    from transformers import BertConfig, BertModel

    tokenizer = nucleotide_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=spec.bert_hidden,
                        num_hidden_layers=spec.bert_layers, num_attention_heads=spec.bert_heads,
                        intermediate_size=4 * spec.bert_hidden, max_position_embeddings=512,
                        pad_token_id=tokenizer.pad_token_id)
    model = BertModel(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_classifier(path: Path, input_dim: int, hidden: int) -> Path:
    import torch

    from .classifier import MLPClassifier

    model = MLPClassifier(input_dim, hidden, 2)
    with torch.no_grad():  # running statistics that make eval mode matter
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    torch.save(model.state_dict(), path)
    return path
