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


def packaged_text(chars: int = 200_000) -> str:
    """Persuasion from convdiv's own packaged copy (convdiv/data/austen): needs nothing outside the repository."""
    from convdiv.data.austen import raw_text

    return raw_text("persuasion")[:chars]


def _git_blob_sha1(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def add_hub_revision(cache: Path, repo_id: str, revision: str, files: dict[str, Path]) -> Path:
    """Put files into a ``huggingface_hub`` cache exactly as a download would: content-addressed blobs, a snapshot
    of symlinks named by a commit hash, and ``refs/<revision>`` naming that commit. Returns the snapshot folder.

    Blobs are named as the Hub names them (sha256 for LFS files such as weights, the git blob sha1 otherwise), so
    identical files of two revisions (a run's config.json) share one blob, as on a real cache.
    """
    import hashlib
    import os

    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        data = Path(src).read_bytes()
        lfs = name.endswith((".safetensors", ".bin"))
        blob = repo / "blobs" / (hashlib.sha256(data).hexdigest() if lfs else _git_blob_sha1(data))
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs" / revision).write_text(commit)
    return snapshot


def build_fake_hub(
    cache: Path,
    *,
    sizes: tuple[str, ...] = ("14m",),
    seeds: tuple[int, ...] = (1, 3),
    steps: tuple[int, ...] = (0, 1),
    missing: tuple[tuple[str, int, int], ...] = (),
    repo: str = "EleutherAI/pythia-{size}-seed{seed}",
    tokenizer_repo: str = "EleutherAI/pythia-70m",
    vocab_size: int = 320,
    max_positions: int = 64,
    dims: tuple[int, int, int, int] = (16, 1, 2, 32),
) -> Path:
    """A Hugging Face Hub cache holding random-init GPT-NeoX checkpoints under Pythia's names.

    ``<repo>`` at revisions ``step<N>`` for every (size, seed, step) except those in ``missing`` (PolyPythias has
    gaps), and the tokenizer (a small BPE from :func:`build_tokenizer`, not Pythia's) at ``<tokenizer_repo>@main``,
    where the ``pythia`` suite spec looks for it. Use with ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE=<cache>``.
    """
    import tempfile

    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cache = Path(cache)
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        tok = build_tokenizer(tok_dir, vocab_size=vocab_size, text=packaged_text())
        padded = int(math.ceil(len(tok) / 64) * 64) + 64
        hidden, layers, heads, inter = dims
        # AutoTokenizer reads the repository's config.json too (the real pythia-70m main branch is a model).
        GPTNeoXConfig(vocab_size=padded, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=inter, max_position_embeddings=max_positions).save_pretrained(str(tok_dir))
        add_hub_revision(cache, tokenizer_repo, "main", {f.name: f for f in tok_dir.iterdir() if f.is_file()})
        for size in sizes:
            for seed in seeds:
                for step in steps:
                    if (size, seed, step) in missing:
                        continue
                    config = GPTNeoXConfig(
                        vocab_size=padded, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=inter, max_position_embeddings=max_positions,
                        initializer_range=0.002 * (1 + 4 * math.log2(1 + step)), bos_token_id=0, eos_token_id=0,
                        tie_word_embeddings=False,
                    )
                    torch.manual_seed(seed * 100_003 + step)
                    out = Path(tmp) / f"{size}-{seed}-{step}"
                    GPTNeoXForCausalLM(config).save_pretrained(str(out), safe_serialization=True)
                    add_hub_revision(cache, repo.format(size=size, seed=seed), f"step{step}",
                                     {f.name: f for f in out.iterdir() if f.is_file()})
    return cache
