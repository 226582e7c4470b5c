"""A fake Hugging Face Hub for offline tests of the hub path: random-init GPT-NeoX checkpoints under Pythia's repository
names and revisions in ``huggingface_hub``'s exact cache layout, and the environment that makes convdiv read only
that cache.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path

from convdiv.testing.cli import run_convdiv
from convdiv.testing.suites import austen_text, build_tokenizer


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def add_hub_revision(cache: Path, repo_id: str, revision: str, files: dict[str, Path]) -> Path:
    """Put files into a ``huggingface_hub`` cache exactly as a download would: content-addressed blobs, a snapshot
    of symlinks named by a commit hash, and ``refs/<revision>`` naming that commit. Returns the snapshot folder.

    Blobs are named as the Hub names them (sha256 for LFS files such as weights, the git blob sha1 otherwise), so
    identical files of two revisions (a run's config.json) share one blob, as on a real cache.
    """
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
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cache = Path(cache)
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        tok = build_tokenizer(tok_dir, vocab_size=vocab_size, text=austen_text())
        padded = int(math.ceil(len(tok) / 64) * 64) + 64
        hidden, layers, heads, inter = dims
        # AutoTokenizer reads the repository's config.json too (the real pythia-70m main branch is a model).
        GPTNeoXConfig(
            vocab_size=padded,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=inter,
            max_position_embeddings=max_positions,
        ).save_pretrained(str(tok_dir))
        add_hub_revision(cache, tokenizer_repo, "main", {f.name: f for f in tok_dir.iterdir() if f.is_file()})
        for size in sizes:
            for seed in seeds:
                for step in steps:
                    if (size, seed, step) in missing:
                        continue
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
                    out = Path(tmp) / f"{size}-{seed}-{step}"
                    GPTNeoXForCausalLM(config).save_pretrained(str(out), safe_serialization=True)
                    add_hub_revision(
                        cache,
                        repo.format(size=size, seed=seed),
                        f"step{step}",
                        {f.name: f for f in out.iterdir() if f.is_file()},
                    )
    return cache


def hub_env(cache: Path, tmp_path: Path, db_url: str | None = None, **extra) -> dict:
    """The environment of a convdiv subprocess that reads the Hub only from `cache` (offline) and keeps its data dir
    and Hugging Face home under `tmp_path`."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(cache),
        "HF_HOME": str(tmp_path / "hf-home"),
        "CONVDIV_DATA_DIR": str(tmp_path / "data"),
        "TRANSFORMERS_OFFLINE": "1",
        **extra,
    }
    if db_url:
        env["DATABASE_URL"] = db_url
    return env


def add_hub_corpus(env: dict, tmp_path: Path, tokenizer: str = "EleutherAI/pythia-70m") -> None:
    """`convdiv corpus add tiny`: a short Austen passage tokenised with the fake Hub's Pythia tokenizer (or another
    tokenizer repository of the fake Hub)."""
    text = tmp_path / "corpus.txt"
    text.write_text(austen_text(302_000)[300_000:301_200], encoding="utf-8")
    run_convdiv(["corpus", "add", "tiny", "--tokenizer", tokenizer, "--text", str(text)], env)


# Tiny configs of two other causal LM families than GPT-NeoX: (hidden, layers, heads, intermediate) as each names them.
FAMILIES = ("llama", "gpt2")


def family_model(family: str, width: int, *, tied: bool, seed: int, init: float = 0.2, max_positions: int = 64):
    """A random-init tiny ``LlamaForCausalLM`` or ``GPT2LMHeadModel`` (seeded) with ``width`` output logits and
    input embeddings; ``tied`` ties the output head to the input embedding."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if family == "llama":
        llama = LlamaConfig(
            vocab_size=width,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,  # grouped-query attention, as Llama 2/3 and OLMo 2 use
            max_position_embeddings=max_positions,
            initializer_range=init,
            tie_word_embeddings=tied,
            bos_token_id=0,
            eos_token_id=0,
        )
        return LlamaForCausalLM(llama)
    if family == "gpt2":
        gpt2 = GPT2Config(
            vocab_size=width,
            n_embd=16,
            n_layer=1,
            n_head=2,
            n_positions=max_positions,
            initializer_range=init,
            tie_word_embeddings=tied,
            bos_token_id=0,
            eos_token_id=0,
        )
        return GPT2LMHeadModel(gpt2)
    raise ValueError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")


def add_hub_tokenizer(cache: Path, tokenizer_repo: str, vocab_size: int = 320) -> int:
    """A small byte-level BPE (:func:`build_tokenizer`) at ``<tokenizer_repo>@main`` of a fake Hub cache, with a
    GPT-2 config.json beside it (AutoTokenizer reads the repository's config too); returns ``len(tokenizer)``."""
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        tok = build_tokenizer(tok_dir, vocab_size=vocab_size, text=austen_text())
        family_model("gpt2", len(tok), tied=True, seed=0).config.save_pretrained(str(tok_dir))
        add_hub_revision(cache, tokenizer_repo, "main", {f.name: f for f in tok_dir.iterdir() if f.is_file()})
        return len(tok)


def add_hub_family_run(
    cache: Path, family: str, repo: str, branches: dict[int, str], *, width: int, tied: bool, seed: int
) -> None:
    """One run of a tiny ``family`` model in a fake Hub cache: a checkpoint per (step, branch) of ``branches``,
    seeded by (seed, step), the init scale growing with the step so checkpoints differ as training ones do."""
    with tempfile.TemporaryDirectory() as tmp:
        for step, branch in branches.items():
            model = family_model(
                family, width, tied=tied, seed=seed * 100_003 + step, init=0.05 * (1 + math.log2(1 + step))
            )
            out = Path(tmp) / branch
            model.save_pretrained(str(out), safe_serialization=True)
            add_hub_revision(cache, repo, branch, {f.name: f for f in out.iterdir() if f.is_file()})
