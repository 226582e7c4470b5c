"""The paper-scale warehouse of the benches: the study's grid (5 sizes x 5 seeds x 20 steps) on a corpus shaped like
its evaluation text (4,662 positions over a 50,277-token vocabulary), facts by binary COPY.

One suite holds 2.33M checkpoint_token rows and 4.66M pair_token rows of seed pairs (+ 2.21M with consecutive
steps). The values are drawn, not computed by models: a per-position difficulty (gamma) times a four-phase E[KL]
curve times log-normal noise; CE around the difficulty; Zipf token frequencies; POS tags drawn by rank.

Two corpora are drawn from the same shape: ``realistic`` (bench/views.py, bench/report.py --builder views: 5% of
positions without a tag, random word boundaries, frequencies of 256 tokens zero) and plain (bench/scale.py,
bench/partitions.py: every position tagged and a whole word). Same ``rng``, same parameters: same rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import psycopg

from convdiv.testing import writers
from convdiv.testing.writers import Key
from convdiv.warehouse import partitions

SIZES = ["14m", "31m", "70m", "160m", "410m"]
SEEDS = [1, 2, 3, 4, 5]
STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 143000]
POSITIONS = 4_662  # the study's evaluation text (pile-sample: 4,663 token ids -> 4,662 predicted tokens)
VOCAB = 50_277
# PTB tags, most frequent first (drawn with probability 1 / rank)
TAGS = (
    "NN IN DT JJ NNP NNS , . VB VBD VBZ VBN VBG VBP RB PRP CC CD TO MD PRP$ WDT POS : HYPH -LRB- -RRB- `` '' RP WP EX "
    "JJR JJS NNPS RBR WRB UH SYM FW LS PDT RBS WP$ NFP ADD XX _SP"
).split()
GROUPS = {"N": "noun", "V": "verb", "J": "adjective", "R": "adverb", "C": "number"}
DOCUMENT = 466  # positions per document


def curve(size_rank: int, step: int) -> float:
    """A four-phase E[KL] shape: tiny at init, dip near 256, peak near 2000, slow decline."""
    x = np.log2(step + 1)
    return float(
        0.02 + 1.5 * np.exp(-((x - 3) ** 2) / 2) + 2.5 * np.exp(-((x - 11) ** 2) / 4) - 0.1 * size_rank * (x > 11) + 0.3
    )


def group(tag: str | None) -> str | None:
    return None if tag is None else GROUPS.get(tag[0], "function")


def _realistic_positions(corpus: int, n: int, freq: np.ndarray, rng: np.random.Generator):
    """Rows of ``copy_position_tags``: a Zipf target per position, 5% of them untagged (whitespace and special tokens),
    random word boundaries."""
    target = np.minimum(rng.zipf(1.3, n) - 1, VOCAB - 1)
    context = np.roll(target, 1)
    tag_p = 1 / np.arange(1, len(TAGS) + 1)
    tags = rng.choice(len(TAGS), n, p=tag_p / tag_p.sum())
    pos_t = [None if rng.random() < 0.05 else TAGS[t] for t in tags]
    pos_prev = [None, *pos_t[:-1]]
    bow = rng.random(n) < 0.8
    eow = rng.random(n) < 0.85
    for i in range(n):
        t, p = int(target[i]), pos_t[i]
        prev = pos_prev[i]
        words = (group(p), group(prev), bool(bow[i]), bool(eow[i]))
        yield (corpus, i // DOCUMENT, i % DOCUMENT, int(context[i]), t, p, prev, *words, int(freq[t]))


def _plain_positions(corpus: int, n: int, freq: np.ndarray, rng: np.random.Generator):
    """Rows of ``copy_position_tags``: a Zipf target per position, every one tagged and a whole word (group_prev is the
    target's group, as bench/scale.py has always written it)."""
    target = np.minimum(rng.zipf(1.3, n) - 1, VOCAB - 1)
    tag_p = 1 / np.arange(1, len(TAGS) + 1)
    tags = [TAGS[t] for t in rng.choice(len(TAGS), n, p=tag_p / tag_p.sum())]
    for i in range(n):
        t, g = int(target[i]), group(tags[i])
        head = (corpus, i // DOCUMENT, i % DOCUMENT, int(target[i - 1]), t, tags[i], tags[i - 1])
        yield (*head, g, g, True, True, int(freq[t]))


def add_corpus(
    conn: psycopg.Connection,
    name: str,
    rng: np.random.Generator,
    *,
    realistic: bool = False,
    scale: int = 1,
    n_documents: int = 10,
    content_sha256: str | None = None,
    attach: bool = True,
    lock: bool | None = None,
) -> tuple[int, np.ndarray]:
    """A corpus of POSITIONS x ``scale`` positions and VOCAB tokens with Zipf frequencies; with its partitions of
    the fact tables (``attach``; a warehouse before migration 0011 has none), position ids locked while written
    (``lock``, default: ``attach``). Returns (corpus_id, its position ids)."""
    n = POSITIONS * scale
    with conn.cursor() as cur:
        row = writers.CorpusRow(
            name=name,
            vocab_size=VOCAB,
            n_documents=n_documents,
            n_positions=n,
            content_sha256=name if content_sha256 is None else content_sha256,
            frequency_source="npy",
        )
        corpus = writers.insert_corpus(cur, row)
        freq = (3.4e8 / np.arange(1, VOCAB + 1) ** 1.07).astype(np.int64)
        if realistic:
            freq[rng.choice(VOCAB, 256, replace=False)] = 0
        logq = np.log((freq + 1) / (freq.sum() + VOCAB))
        vocab = ((corpus, i, f"tok{i}", int(freq[i]), float(logq[i])) for i in range(VOCAB))
        writers.copy_rows(cur, "copy_vocab_token", vocab)
        if attach if lock is None else lock:
            partitions.lock_position_ids(conn)
        positions = (_realistic_positions if realistic else _plain_positions)(corpus, n, freq, rng)
        writers.copy_rows(cur, "copy_position_tags", positions)
        if attach:
            partitions.attach(conn, corpus)  # as corpus add makes them
        return corpus, writers.position_ids(cur, corpus)


@dataclass
class PaperSuite:
    """One suite of the grid: its checkpoints by (size, seed, step), its comparisons as (comparison_id, size rank,
    step), and the fact rows copied (checkpoint_token, pair_token)."""

    suite_id: int
    sizes: list[str]
    steps: list[int]
    ckpt: dict[Key, int]
    comps: list[tuple[int, int, int]]
    rows: list[int] = field(default_factory=lambda: [0, 0])


def add_suite(
    cur: psycopg.Cursor,
    name: str,
    *,
    steps: Sequence[int] = STEPS,
    sizes: Sequence[str] = SIZES,
    consecutive: bool = True,
    tokenizer: str = "t",
) -> PaperSuite:
    """One paper-grid suite's dimensions: models, runs, checkpoints, the seed pairs of every (size, step) and, with
    ``consecutive``, each run's consecutive steps. No facts: see copy_facts."""
    suite = writers.insert_suite(cur, name, source="hub", tokenizer=tokenizer)
    ckpt = writers.insert_grid(cur, suite, sizes, SEEDS, steps, run_source=lambda size, seed: "hub")
    comps = []
    for rank, size in enumerate(sizes):
        for k, step in enumerate(steps):
            pairs = [
                ("seed_pair", ckpt[size, a, step], ckpt[size, b, step]) for a, b in itertools.combinations(SEEDS, 2)
            ]
            if k and consecutive:
                pairs += [("consecutive_step", ckpt[size, s, steps[k - 1]], ckpt[size, s, step]) for s in SEEDS]
            comps += [(writers.insert_comparison(cur, kind, a, b), rank, step) for kind, a, b in pairs]
    return PaperSuite(suite, list(sizes), list(steps), ckpt, comps)


def unit_rows(
    suite: PaperSuite,
    size: str,
    step: int,
    position_ids: np.ndarray,
    difficulty: np.ndarray,
    rng: np.random.Generator,
    *,
    cap_entropy: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The fact rows of one (size, step) unit: checkpoint_token of its 5 checkpoints, pair_token of its
    comparisons. ``cap_entropy``: entropy at most log VOCAB (KL to uniform >= 0)."""
    n, rank = len(position_ids), suite.sizes.index(size)
    level = curve(rank, step)
    ids = np.concatenate([np.full(n, suite.ckpt[size, s, step], np.int32) for s in SEEDS])
    ce = np.abs(np.tile(difficulty, len(SEEDS)) * (1 + 0.1 * rng.standard_normal(ids.size, np.float32)))
    ent = np.minimum(ce * 0.8, np.log(VOCAB)) if cap_entropy else ce * 0.8
    ct = {
        "checkpoint_id": ids,
        "position_id": np.tile(position_ids, len(SEEDS)),
        "ce": ce.astype(np.float32),
        "entropy": ent.astype(np.float32),
        "kl_uniform": np.float32(np.log(VOCAB)) - ent.astype(np.float32),
        "kl_unigram": (np.abs(rng.standard_normal(ids.size, np.float32)) + 0.5).astype(np.float32),
    }
    cids = [c for c, r, s in suite.comps if r == rank and s == step]
    cid = np.repeat(np.array(cids, np.int32), n)
    base = np.tile(difficulty, len(cids)) * level
    noise = rng.lognormal(0, 0.3, (2, cid.size)).astype(np.float32)
    pt = {
        "comparison_id": cid,
        "position_id": np.tile(position_ids, len(cids)),
        "kl_ab": (base * noise[0]).astype(np.float32),
        "kl_ba": (base * noise[1]).astype(np.float32),
    }
    return ct, pt


def copy_facts(
    cur: psycopg.Cursor,
    suite: PaperSuite,
    position_ids: np.ndarray,
    difficulty: np.ndarray,
    rng: np.random.Generator,
    *,
    cap_entropy: bool = True,
) -> list[int]:
    """Every unit's fact rows by binary COPY, one COPY per table and (size, step), as an ingest writes them; adds
    the rows to ``suite.rows`` and returns them."""
    for size in suite.sizes:
        for step in suite.steps:
            ct, pt = unit_rows(suite, size, step, position_ids, difficulty, rng, cap_entropy=cap_entropy)
            suite.rows[0] += writers.copy_checkpoint_tokens(cur, ct)
            suite.rows[1] += writers.copy_pair_tokens(cur, pt)
    return suite.rows
