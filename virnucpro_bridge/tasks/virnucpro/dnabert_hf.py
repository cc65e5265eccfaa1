"""Writing a DNABERT-S folder in the Hugging Face layout, with random weights.

For the demo models and for tests and benchmarks of the real layout::

    config.json               the real model's fields (without ``auto_map``: no code is shipped)
    tokenizer.json            DNABERT-2's tokenizer format: BPE, whitespace pre-tokenizer,
                              [CLS] $A [SEP], [UNK]=0 [CLS]=1 [SEP]=2 [PAD]=3 [MASK]=4
    tokenizer_config.json, special_tokens_map.json   as the real repository has them
    pytorch_model.bin         the real model's keys (``bert.`` prefix optional), pooler included

The demo tokenizer is generated, not DNABERT-2's own 4,096-token vocabulary:
the 4 bases, their 16 pairs and 256 four-mers, merged pairwise the way BPE
merges (pairs first, then pairs of pairs). Same file format and special
tokens, so the real loading path runs, but a small vocabulary and no
third-party data in the package. ``tokenizer=`` copies a real one instead.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

from .dnabert import DnabertConfig, MosaicBert

BASES = "ACGT"
SPECIALS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")  # ids 0-4, as DNABERT-2's tokenizer
INIT_STD = 0.02  # BERT's initializer_range
SPECIAL_MAP = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
               "sep_token": "[SEP]", "unk_token": "[UNK]"}


def bpe_tokenizer() -> Any:
    """A small BPE tokenizer in DNABERT-2's format (a ``tokenizers.Tokenizer``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    pairs = ["".join(p) for p in itertools.product(BASES, repeat=2)]
    merges = [(a, b) for a, b in itertools.product(BASES, repeat=2)]
    merges += [(a, b) for a, b in itertools.product(pairs, repeat=2)]
    tokens = [*SPECIALS, *BASES, *pairs, *(a + b for a, b in merges[len(pairs):])]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.add_special_tokens(list(SPECIALS))
    return tok


def hf_config(config: DnabertConfig) -> dict[str, Any]:
    """config.json as DNABERT-S's has it, with this encoder's sizes."""
    return {
        "architectures": ["BertModel"], "alibi_starting_size": 512, "attention_probs_dropout_prob": 0.0,
        "classifier_dropout": None, "gradient_checkpointing": False, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": config.hidden_size, "initializer_range": INIT_STD,
        "intermediate_size": config.intermediate_size, "layer_norm_eps": config.layer_norm_eps,
        "max_position_embeddings": 512, "model_type": "bert",
        "num_attention_heads": config.num_attention_heads, "num_hidden_layers": config.num_hidden_layers,
        "pad_token_id": 0, "position_embedding_type": "absolute", "torch_dtype": "float32",
        "type_vocab_size": config.type_vocab_size, "use_cache": True, "vocab_size": config.vocab_size,
    }


def random_state(config: DnabertConfig, seed: int) -> dict[str, Any]:
    """Random weights under the real checkpoint's keys (BertModel: encoder and pooler)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MosaicBert(config).state_dict().items()}
    shapes["pooler.dense.weight"] = torch.Size([config.hidden_size, config.hidden_size])
    shapes["pooler.dense.bias"] = torch.Size([config.hidden_size])
    state = {}
    for key, shape in shapes.items():
        if key.endswith(("LayerNorm.weight", "layernorm.weight")):  # near 1, as trained norms are
            state[key] = 1.0 + INIT_STD * torch.randn(shape, generator=generator)
        else:
            state[key] = INIT_STD * torch.randn(shape, generator=generator)
    return state


def write_dnabert(folder: Path, *, hidden: int, layers: int, heads: int, intermediate: int, seed: int = 0,
                  tokenizer: Path | None = None, weights: str = "pytorch_model.bin", prefix: str = "",
                  extra_config: dict[str, Any] | None = None) -> Path:
    """A DNABERT-S folder with random weights; ``tokenizer``: a tokenizer.json to copy
    (else the generated demo one); ``weights``: pytorch_model.bin or model.safetensors."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        shutil.copyfile(tokenizer, folder / "tokenizer.json")
    else:
        bpe_tokenizer().save(str(folder / "tokenizer.json"))
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    config = DnabertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=intermediate)
    _write_json(folder / "config.json", {**hf_config(config), **(extra_config or {})})
    _write_json(folder / "tokenizer_config.json", {
        "clean_up_tokenization_spaces": True, **SPECIAL_MAP, "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "PreTrainedTokenizerFast"})
    _write_json(folder / "special_tokens_map.json", SPECIAL_MAP)
    state = {prefix + k: v for k, v in random_state(config, seed).items()}
    if weights == "model.safetensors":
        from safetensors.torch import save_file

        save_file(state, str(folder / weights), metadata={"format": "pt"})
    else:
        torch.save(state, folder / weights)
    return folder


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
