"""A synthetic warehouse with the study's shape, loaded into the real schema: for report tests and benchmarks.

Rows go into the real tables (suite, model, run, checkpoint, corpus, vocab_token, position, comparison,
checkpoint_token, pair_token, ingest_run, ingest_unit) by COPY, exactly where an ingest would put them (the corpus's
partitions of the fact tables attached as `corpus add` does), and the
aggregates are rebuilt after (aggregates.rebuild), so every view sees them as ingested data. The numbers are drawn from
a known model rather than computed by language models:

- E[KL] across seeds follows the study's four phases in log(step + 1): ~0 at step 0, up to a bump at step 16,
  down to a valley at 256, up to a peak at 2000, then slow decay; larger sizes end lower;
- per position, KL is that curve times a POS(t) factor, a frequency factor (rare tokens diverge more) and
  log-normal noise; consecutive-step KL decays with step;
- ``noise="seed"`` draws the noise from the seeds instead: every seed has a random vector per position and step,
  and a seed pair's KL is the squared distance between its two seeds' vectors (so pairs sharing a seed are
  correlated, as the pairs of real runs are); a run's consecutive-step KL is its own vector's squared length;
- ``tag_effects=False`` removes the POS, frequency and per-position factors: every position has the same
  expected KL, so the true relative divergence sigma of every category is 1 (the null of the report's marks);
- KL to uniform grows from 0, KL to unigram has its minimum near step 256, CE falls with step.

Use it where the report's plumbing is under test; the real ingest of a local suite covers the measurements.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import psycopg
from sqlalchemy.engine import Engine

from convdiv.testing import writers
from convdiv.testing.writers import Key
from convdiv.warehouse import aggregates, partitions

PAPER_STEPS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 143000)
PAPER_SIZES = ("14m", "31m", "70m", "160m", "410m")
PAPER_SEEDS = (1, 3, 5, 7, 9)
TAGS = (
    "NN",
    "NNS",
    "NNP",
    "NNPS",
    "VB",
    "VBD",
    "VBG",
    "VBN",
    "VBP",
    "VBZ",
    "DT",
    "IN",
    "JJ",
    "PRP",
    "PRP$",
    "CC",
    "TO",
    "RB",
    "MD",
    ".",
    ",",
    "CD",
)
TAG_WEIGHTS = (14, 6, 5, 1, 4, 5, 2, 3, 2, 2, 10, 11, 6, 5, 2, 3, 2, 4, 1, 5, 6, 1)
TAG_FACTOR = {
    "NN": 1.3,
    "NNS": 1.2,
    "NNP": 1.8,
    "NNPS": 1.6,
    "VB": 1.1,
    "VBD": 1.0,
    "VBG": 1.0,
    "VBN": 1.1,
    "VBP": 0.9,
    "VBZ": 0.9,
    "DT": 0.55,
    "IN": 0.6,
    "JJ": 1.4,
    "PRP": 0.7,
    "PRP$": 0.6,
    "CC": 0.5,
    "TO": 0.4,
    "RB": 1.0,
    "MD": 0.8,
    ".": 0.45,
    ",": 0.5,
    "CD": 1.5,
}
GROUP = {
    "NN": "noun",
    "NNS": "noun",
    "NNP": "noun",
    "NNPS": "noun",
    "VB": "verb",
    "VBD": "verb",
    "VBG": "verb",
    "VBN": "verb",
    "VBP": "verb",
    "VBZ": "verb",
    "JJ": "adjective",
    "RB": "adverb",
    ".": "punctuation",
    ",": "punctuation",
    "CD": "number",
}


@dataclass(frozen=True)
class SyntheticInfo:
    suite: str
    corpus: str
    sizes: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: tuple[int, ...]
    n_positions: int
    checkpoint_token_rows: int
    pair_token_rows: int


def seed_curve(step: npt.ArrayLike, size_rank: int, dip: bool = True) -> np.ndarray:
    """E[KL] across seeds: the study's shape, or with ``dip=False`` a curve that only rises to its peak at 2000
    (no sharp convergence, as on demo-quick) and then decays."""
    x = np.log1p(np.asarray(step, float))
    knots = np.log1p([0, 16, 256, 2000, 143000])
    values = np.array([2e-5, 0.5, 0.15 if dip else 0.8, 1.2, 0.75 * (1 - 0.12 * size_rank)])
    return np.interp(x, knots, values, right=values[-1])


def step_curve(step: npt.ArrayLike, size_rank: int) -> np.ndarray:
    x = np.log1p(np.asarray(step, float))
    return 0.8 * np.exp(-0.25 * x) * (1 - 0.05 * size_rank) + 1e-4


class SeedNoise:
    """Per-seed random vectors (SEED_NOISE_DIMS per position) for each (size, step), drawn when first needed:
    KL between two seeds' checkpoints = squared distance of their vectors / (2 d) (mean 1), within a run (a
    consecutive step) = squared length of the run's vector / d (mean 1)."""

    def __init__(self, rng: np.random.Generator, seeds: Sequence[int], n_positions: int):
        self.rng, self.seeds, self.n = rng, list(seeds), n_positions
        self.vectors: dict[tuple[str, int], np.ndarray] = {}

    def _at(self, size: str, step: int) -> np.ndarray:
        if (size, step) not in self.vectors:
            self.vectors[size, step] = self.rng.standard_normal((len(self.seeds), self.n, SEED_NOISE_DIMS))
        return self.vectors[size, step]

    def kl(self, a: tuple[str, int, int], b: tuple[str, int, int]) -> np.ndarray:
        (size_a, seed_a, step_a), (size_b, seed_b, step_b) = a, b
        va = self._at(size_a, step_a)[self.seeds.index(seed_a)]
        if seed_a == seed_b and size_a == size_b:  # one run between two steps: the run's own noise
            return (va**2).sum(axis=1) / SEED_NOISE_DIMS
        vb = self._at(size_b, step_b)[self.seeds.index(seed_b)]
        return ((va - vb) ** 2).sum(axis=1) / (2 * SEED_NOISE_DIMS)


def synthetic_words(docs: np.ndarray, targets: np.ndarray, token_text: list[str]):
    """Words of the synthetic documents (each document's text is its targets' texts after a BOS): a token with a
    leading space starts a word, token 0 (the BOS text) belongs to none. Returns each position's word (-1: none)
    and the corpus_word rows (document, word, start_char, end_char, n_tokens, text)."""
    word = np.full(len(targets), -1, dtype=np.int64)
    rows = []
    for d in np.unique(docs).tolist():
        at = np.flatnonzero(docs == d)
        text, n, spans = "", -1, []
        for i in at.tolist():
            piece = token_text[targets[i]]
            if targets[i] != 0:
                if n < 0 or piece.startswith(" "):
                    n += 1
                    spans.append([len(text) + len(piece) - len(piece.lstrip()), 0, 0])
                word[i] = n
                spans[n][1] = len(text) + len(piece)
                spans[n][2] += 1
            text += piece
        rows += [(d, k, a, b, m, text[a:b]) for k, (a, b, m) in enumerate(spans)]
    return word, rows


# Dimensions of the per-seed vectors: KL is then a scaled chi-square with 4 (pairs) or 4 (runs) degrees of freedom
# per position, right-skewed as KL is.
SEED_NOISE_DIMS = 4


Pair = tuple[str, Key, Key, float]  # (kind, checkpoint a, checkpoint b, its expected KL level)


@dataclass(frozen=True)
class _Text:
    """The synthetic corpus as drawn: a Zipf vocabulary with a tag per token, positions over documents."""

    token_text: list[str]
    counts: np.ndarray
    unigram: np.ndarray
    docs: np.ndarray
    idx: np.ndarray
    targets: np.ndarray
    context: np.ndarray
    pos_t: list[str]
    pos_prev: list[str | None]
    freq: np.ndarray
    pos_factor: np.ndarray
    freq_factor: np.ndarray


def _draw_text(rng: np.random.Generator, vocab_size: int, n_positions: int, n_documents: int, tag_effects: bool):
    """Vocabulary (Zipf frequencies, a tag per token, some word-initial tokens) and positions; the draws come first
    from ``rng``, in this order, so that a warehouse's facts depend on its ``rng_seed`` only."""
    V = vocab_size
    zipf = 1.0 / np.arange(1, V + 1) ** 1.05
    token_tag = rng.choice(len(TAGS), V, p=np.array(TAG_WEIGHTS) / sum(TAG_WEIGHTS))
    token_text = [("" if i % 3 == 2 else " ") + f"w{i}" for i in range(V)]
    token_text[0] = "<|endoftext|>"
    targets = rng.choice(V, n_positions, p=zipf / zipf.sum())
    counts = np.bincount(targets, minlength=V)
    docs = np.sort(rng.integers(0, n_documents, n_positions))
    docs[:n_documents] = np.arange(n_documents)  # every document non-empty
    docs = np.sort(docs)
    idx = np.zeros(n_positions, dtype=np.int64)
    for d in range(n_documents):
        m = docs == d
        idx[m] = np.arange(m.sum())
    context = np.where(idx == 0, 0, np.roll(targets, 1))
    pos_t = [TAGS[token_tag[t]] for t in targets]
    freq = counts[targets]
    pos_factor = np.array([TAG_FACTOR[t] for t in pos_t])
    freq_factor = 1.0 + 0.4 * np.maximum(0, 4 - np.log(np.maximum(freq, 1))) / 4
    if not tag_effects:
        pos_factor, freq_factor = np.ones(n_positions), np.ones(n_positions)
    return _Text(
        token_text=token_text,
        counts=counts,
        unigram=np.log((counts + 0.01) / (counts + 0.01).sum()),
        docs=docs,
        idx=idx,
        targets=targets,
        context=context,
        pos_t=pos_t,
        pos_prev=[None if c == 0 else TAGS[token_tag[c]] for c in context],
        freq=freq,
        pos_factor=pos_factor,
        freq_factor=freq_factor,
    )


def _position_rows(corpus_id: int, text: _Text, word: np.ndarray):
    for i in range(len(text.targets)):
        prev = text.pos_prev[i]
        yield (
            corpus_id,
            int(text.docs[i]),
            int(text.idx[i]),
            int(text.context[i]),
            int(text.targets[i]),
            text.pos_t[i],
            prev,
            None,
            None,
            GROUP.get(text.pos_t[i], "function"),
            None if prev is None else GROUP.get(prev, "function"),
            text.token_text[text.targets[i]].startswith(" "),
            text.targets[i] % 4 != 1,
            int(text.freq[i]),
            None if word[i] < 0 else int(word[i]),
        )


def _write_corpus(cur: psycopg.Cursor, name: str, text: _Text, n_documents: int, rng_seed: int):
    """The corpus row, its vocabulary, positions and words, and its partitions of the fact tables (as ``corpus
    add`` leaves them); (corpus_id, position ids)."""
    V, n = len(text.token_text), len(text.targets)
    word, words = synthetic_words(text.docs, text.targets, text.token_text)
    corpus_row = writers.CorpusRow(
        name=name,
        vocab_size=V,
        n_documents=n_documents,
        n_positions=n,
        tokenizer="synthetic-tokenizer",
        tokenizer_sha256="synthetic",
        content_sha256=f"synthetic-{rng_seed}",
        spacy_model="synthetic tags",
        words_sha256=f"synthetic-words-{rng_seed}",
    )
    corpus_id = writers.insert_corpus(cur, corpus_row)
    vocab = ((corpus_id, t, text.token_text[t], int(text.counts[t]), float(text.unigram[t])) for t in range(V))
    writers.copy_rows(cur, "copy_vocab_token", vocab)
    partitions.lock_position_ids(cur.connection)  # one id range: the corpus's partitions of the fact tables
    writers.copy_rows(cur, "copy_position", _position_rows(corpus_id, text, word))
    writers.copy_rows(cur, "copy_corpus_word", ((corpus_id, *row) for row in words))
    partitions.attach(cur.connection, corpus_id)
    return corpus_id, writers.position_ids(cur, corpus_id)


def _write_checkpoint_facts(cur, ckpt, present, sizes, text: _Text, ids: np.ndarray, rng) -> int:
    """checkpoint_token of every present checkpoint: KL to uniform grows from 0, KL to unigram is lowest near step
    256, CE falls with step (larger sizes lower)."""
    n_positions, logv = len(ids), np.log(len(text.token_text))
    n_ck = 0
    for (size, _seed, step), cid in ckpt.items():
        if (size, _seed, step) not in present:
            continue
        rank = sizes.index(size)
        grow = 1 - np.exp(-step / 40.0)
        kl_uni = np.clip(0.6 * logv * grow * (1 + 0.1 * rng.standard_normal(n_positions)), 1e-7, logv)
        entropy = logv - kl_uni
        lx = np.log1p(step)
        kl_unigram = (0.25 * abs(lx - np.log1p(256)) + 0.2) * text.freq_factor * rng.lognormal(0, 0.1, n_positions)
        ce = (
            entropy * (1 - 0.3 * grow)
            + 0.3 * np.maximum(0, 6 - np.log(np.maximum(text.freq, 1))) * grow
            - 0.05 * rank * grow
            + 0.1 * rng.random(n_positions)
        )
        cols = {
            "checkpoint_id": np.full(n_positions, cid, np.int32),
            "position_id": ids,
            "ce": ce.astype(np.float32),
            "entropy": entropy.astype(np.float32),
            "kl_uniform": kl_uni.astype(np.float32),
            "kl_unigram": kl_unigram.astype(np.float32),
        }
        n_ck += writers.copy_checkpoint_tokens(cur, cols)
    return n_ck


def _planned_pairs(sizes, seeds, steps, comparisons: Sequence[str], dip: bool) -> list[list[Pair]]:
    """The comparisons to write, per size (seed pairs, then consecutive steps), then the cross-size ones last (so
    that their random draws come after all the others)."""
    pairs_by_size: list[list[Pair]] = []
    for rank, size in enumerate(sizes):
        pairs: list[Pair] = []
        if "seed_pair" in comparisons:
            for step in steps:
                for s1, s2 in itertools.combinations(seeds, 2):
                    pairs.append(("seed_pair", (size, s1, step), (size, s2, step), float(seed_curve(step, rank, dip))))
        if "consecutive_step" in comparisons:
            for seed in seeds:
                for t1, t2 in zip(steps, steps[1:]):
                    pairs.append(("consecutive_step", (size, seed, t1), (size, seed, t2), float(step_curve(t1, rank))))
        pairs_by_size.append(pairs)
    if "cross_size" in comparisons:
        pairs_by_size.append(
            [
                ("cross_size", (s1, seed, step), (s2, seed, step), float(seed_curve(step, sizes.index(s2), dip)))
                for s1, s2 in itertools.combinations(sizes, 2)
                for seed in seeds
                for step in steps
            ]
        )
    return pairs_by_size


def _write_pair_facts(cur, pairs_by_size, ckpt, present, seeds, text: _Text, ids, rng, noise, tag_effects) -> int:
    """A comparison row and its pair_token rows for every planned pair whose two checkpoints are present: KL = the
    pair's level x POS, frequency and per-position factors x noise (per comparison, or from the seeds' vectors)."""
    n_positions = len(ids)
    pos_noise = rng.lognormal(0, 0.4, n_positions) if tag_effects else np.ones(n_positions)
    seed_noise = SeedNoise(rng, seeds, n_positions)
    n_pair = 0
    for pairs in pairs_by_size:
        for kind, a, b, level in pairs:
            if a not in present or b not in present:
                continue
            comp_id = writers.insert_comparison(cur, kind, ckpt[a], ckpt[b])
            shape = text.pos_factor * text.freq_factor * pos_noise
            if noise == "seed":
                kl = level * shape * seed_noise.kl(a, b)
            else:
                kl = level * shape * rng.lognormal(0, 0.15, n_positions)
            cols = {
                "comparison_id": np.full(n_positions, comp_id, np.int32),
                "position_id": ids,
                "kl_ab": kl.astype(np.float32),
                "kl_ba": (kl * rng.lognormal(0, 0.05, n_positions)).astype(np.float32),
            }
            n_pair += writers.copy_pair_tokens(cur, cols)
    return n_pair


def build_synthetic_warehouse(
    engine: Engine,
    *,
    suite: str = "synthetic",
    corpus: str = "synthetic-text",
    sizes: Sequence[str] = ("14m", "70m"),
    seeds: Sequence[int] = (1, 2, 3),
    steps: Sequence[int] = (0, 1, 4, 16, 64, 256, 1000, 4000),
    n_positions: int = 300,
    n_documents: int = 3,
    vocab_size: int = 120,
    comparisons: Sequence[str] = ("seed_pair", "consecutive_step"),
    missing: Sequence[tuple[str, int, int]] = (),
    duplicate_weights: tuple[str, int, int, int] | None = None,
    rng_seed: int = 0,
    dip: bool = True,
    noise: str = "comparison",
    tag_effects: bool = True,
) -> SyntheticInfo:
    """Load a synthetic suite x corpus; ``missing`` (size, seed, step) checkpoints get no facts.

    ``duplicate_weights`` = (size, seed, step1, step2) gives two steps of a run the same weights sha256.
    ``comparisons`` may add "cross_size": their random draws come after all the others, so two warehouses built
    with the same ``rng_seed``, with and without them, hold identical facts otherwise. ``dip``: see seed_curve;
    ``noise`` ('comparison': independent per comparison; 'seed': from per-seed vectors) and ``tag_effects``: see
    the module docstring.
    """
    if noise not in ("comparison", "seed"):
        raise ValueError(f"noise must be 'comparison' or 'seed', not {noise!r}")
    rng = np.random.default_rng(rng_seed)
    sizes, seeds, steps = tuple(sizes), tuple(seeds), tuple(sorted(steps))
    text = _draw_text(rng, vocab_size, n_positions, n_documents, tag_effects)

    def weights(size: str, seed: int, step: int) -> str:
        dup = duplicate_weights and (size, seed) == duplicate_weights[:2] and step in duplicate_weights[2:]
        return f"sha-{size}-{seed}-dup" if dup else f"sha-{size}-{seed}-{step}"

    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None  # an open pooled connection holds its driver's connection
        with conn.cursor() as cur:
            spec = {"sizes": list(sizes), "seeds": list(seeds), "steps": list(steps)}
            suite_id = writers.insert_suite(
                cur, suite, tokenizer="synthetic-tokenizer", tokenizer_sha256="synthetic", spec=spec
            )
            corpus_id, ids = _write_corpus(cur, corpus, text, n_documents, rng_seed)
            ckpt = writers.insert_grid(
                cur,
                suite_id,
                sizes,
                seeds,
                steps,
                run_source=lambda size, seed: f"synthetic/{size}/seed{seed}",
                weights_sha256=weights,
                n_params=lambda rank: 10**6 * (rank + 1),
            )
            present = {k for k in ckpt if k not in set(map(tuple, missing))}
            n_ck = _write_checkpoint_facts(cur, ckpt, present, sizes, text, ids, rng)
            pairs = _planned_pairs(sizes, seeds, steps, comparisons, dip)
            n_pair = _write_pair_facts(cur, pairs, ckpt, present, seeds, text, ids, rng, noise, tag_effects)
            units = (  # one finished ledger unit per (size, step): done where a checkpoint has data
                (f"size={size}/step={step}", any((size, s, step) in present for s in seeds), n_positions * len(seeds))
                for size in sizes
                for step in steps
            )
            writers.insert_ledger(cur, suite_id, corpus_id, units)
        conn.commit()
    finally:
        raw.close()
    with engine.connect() as sa_conn:  # planner statistics for the fresh rows, as after a real bulk load
        sa_conn.exec_driver_sql("ANALYZE")
        sa_conn.commit()
    aggregates.rebuild(engine)  # the facts bypassed the ingest: its aggregates are built here in one pass
    return SyntheticInfo(suite, corpus, sizes, seeds, steps, n_positions, n_ck, n_pair)
