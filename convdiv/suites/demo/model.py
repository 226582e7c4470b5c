"""The demo's models: a GPT-NeoX configuration with Pythia's architecture choices and initialisation, and
Pythia-style size names.

Initialisation as GPT-NeoX initialises Pythia (its configs set ``init_method: small_init`` and
``output_layer_init_method: wang_init``; Black et al., 2022, sec. 2.3.1): every weight matrix and embedding is drawn
from N(0, sqrt(2 / (5 d))) ("small init", Nguyen & Salazar, 2019), except the two projections that write into the
residual stream, ``attention.dense`` and ``mlp.dense_4h_to_h``, drawn from N(0, 2 / (L sqrt(d))) ("Wang init"),
with d the hidden size and L the number of layers; biases are 0, LayerNorm weights 1. transformers' GPT-NeoX
draws every weight from N(0, ``initializer_range``) instead (0.02 by default): at the demo's hidden sizes its
logits at step 0 are nearly constant, so the seeds agreed almost exactly (E[KL] across seeds at step 0: 0.006 and
0.013 nats in the quick demo, ~2e-5 in the full one), while small init gives logits of standard deviation
~sqrt(2/5) whatever d (E[KL] 0.39 to 0.40 nats measured in both demos), and the study's sharp convergence has
something to converge from.
"""

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
        initializer_range=small_init_std(arch.hidden),  # transformers draws every weight with it
        attention_dropout=0.0,
        hidden_dropout=0.0,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
    )


def small_init_std(hidden: int) -> float:
    """GPT-NeoX's ``small_init``: sqrt(2 / (5 d))."""
    return math.sqrt(2 / (5 * hidden))


def wang_init_std(hidden: int, layers: int) -> float:
    """GPT-NeoX's ``wang_init``: 2 / (L sqrt(d))."""
    return 2 / (layers * math.sqrt(hidden))


# The projections into the residual stream, which GPT-NeoX draws with its output_layer_init_method (wang_init).
OUTPUT_PROJECTIONS = ("attention.dense", "mlp.dense_4h_to_h")


def new_model(cfg: DemoConfig, arch: DemoSize, vocab_len: int):
    """A freshly initialised model, drawn from torch's global generator (the caller seeds it) as Pythia's are:
    transformers' init with ``initializer_range`` = small init, then the output projections redrawn with Wang init."""
    import torch
    from transformers import GPTNeoXForCausalLM

    model = GPTNeoXForCausalLM(model_config(cfg, arch, vocab_len))
    std = wang_init_std(arch.hidden, arch.layers)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith(OUTPUT_PROJECTIONS):
                module.weight.normal_(0.0, std)
    return model


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
