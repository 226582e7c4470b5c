"""The demo's models: a GPT-NeoX configuration with Pythia's architecture choices, and Pythia-style size names."""

from __future__ import annotations

import math

from convdiv.errors import ConvdivError
from convdiv.suites.demo.config import DemoConfig, DemoSize


def model_config(cfg: DemoConfig, arch: DemoSize, vocab_len: int):
    """``GPTNeoXConfig``: rotary on 25% of head dims, parallel residual, untied embeddings, GELU, padded vocabulary."""
    from transformers import GPTNeoXConfig

    # transformers 5 still takes 4.x's rotary_pct / rotary_emb_base (into rope_parameters), but its typed signature
    # no longer names them; 4.x (pyproject allows >=4.40) knows only these names.
    return GPTNeoXConfig(  # type: ignore[call-arg]
        vocab_size=int(math.ceil(vocab_len / 128) * 128),  # padded like Pythia (50,277 -> 50,304)
        hidden_size=arch.hidden,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        intermediate_size=4 * arch.hidden,
        max_position_embeddings=cfg.seq_len,
        rotary_pct=0.25,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        initializer_range=0.02,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
    )


def count_params(cfg: DemoConfig, arch: DemoSize, vocab_len: int) -> int:
    """Total parameters of one size, counted on the meta device (no memory allocated)."""
    import torch
    from transformers import GPTNeoXForCausalLM

    with torch.device("meta"):
        model = GPTNeoXForCausalLM(model_config(cfg, arch, vocab_len))
    return sum(p.numel() for p in model.parameters())


def size_labels(cfg: DemoConfig, vocab_len: int) -> list[str]:
    """Pythia-style size names from total parameter counts: '95k', '0.4m'."""
    labels = []
    for arch in cfg.sizes:
        n = count_params(cfg, arch, vocab_len)
        label = f"{round(n / 1e3)}k" if n < 1e6 else f"{n / 1e6:.1f}m"
        if label in labels:
            raise ConvdivError(f"demo config {cfg.name}: two sizes share the label {label}")
        labels.append(label)
    return labels
