"""Small real suites: a byte-level BPE tokenizer and a random-init local suite of GPT-NeoX checkpoints.

Nothing is downloaded: the tokenizer is trained on a slice of the bundled Austen corpus with `tokenizers`,
models are GPT-NeoX (the Pythia architecture) built from configs and saved with `save_pretrained` in the local
suite layout ``<root>/<size>/seed<k>/step<N>/`` with the tokenizer in ``<root>/tokenizer/``.

Random-init "checkpoints" are not trained: step t is initialised from seed (seed, step) with a standard
deviation that grows with t, so step 0 is nearly uniform and later steps are peaked, like a real run's
early phase. Use them for engine and loader tests; use the `--quick` demo suite where training matters.
"""

from __future__ import annotations

import math
from pathlib import Path

from convdiv.data import austen

TINY_SIZES = {
    # size label -> (hidden, layers, heads, intermediate)
    "xs": (16, 1, 2, 32),
    "s": (32, 2, 2, 64),
}


def austen_text(chars: int = 200_000) -> str:
    """The first `chars` characters of *Persuasion* exactly as published (title page and hard-wrapped lines kept)."""
    return austen.raw_text(austen.VALIDATION_NOVEL)[:chars]


def build_tokenizer(out_dir: Path, vocab_size: int = 320, text: str | None = None):
    """Train a GPT-NeoX-style byte-level BPE tokenizer and save it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = text if text is not None else austen_text()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = text.split("\n")
    tok.train_from_iterator(lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return fast


def build_random_suite(
    root: Path,
    sizes: tuple[str, ...] = ("xs", "s"),
    seeds: tuple[int, ...] = (1, 2, 3),
    steps: tuple[int, ...] = (0, 1, 4, 16),
    vocab_size: int = 320,
    max_positions: int = 128,
) -> Path:
    """Write a local suite of random-init GPT-NeoX checkpoints (logits padded to a multiple of 64)."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = build_tokenizer(root / "tokenizer", vocab_size=vocab_size)
    padded = int(math.ceil(len(tok) / 64) * 64) + 64  # wider than |V|, as Pythia pads 50277 -> 50304
    for size in sizes:
        hidden, layers, heads, inter = TINY_SIZES[size]
        for seed in seeds:
            for step in steps:
                config = GPTNeoXConfig(
                    vocab_size=padded,
                    hidden_size=hidden,
                    num_hidden_layers=layers,
                    num_attention_heads=heads,
                    intermediate_size=inter,
                    max_position_embeddings=max_positions,
                    initializer_range=0.002 * (1 + 4 * math.log2(1 + step)),
                    bos_token_id=0,
                    eos_token_id=0,
                    tie_word_embeddings=False,
                )
                torch.manual_seed(seed * 100_003 + step)
                model = GPTNeoXForCausalLM(config)
                model.save_pretrained(str(root / size / f"seed{seed}" / f"step{step}"), safe_serialization=True)
    return root
