"""The writers every synthetic warehouse is built with: rows go into the real tables exactly where an ingest would
put them (suite, corpus, vocabulary and positions by COPY, the grid of models x runs x checkpoints, comparisons,
fact rows by binary COPY, ledger units), on a psycopg cursor in the caller's transaction.

Three shapes are built with them: the study-shaped warehouse of the report's tests (``synthetic``), the paper-scale
warehouses of the benches (``paper``) and the hand-made curve warehouse with known answers (``warehouses``). Their
SQL is in ``sql/writers.sql``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from convdiv.warehouse import queries
from convdiv.warehouse.loader import copy_into

Q = queries.beside(__file__)

CHECKPOINT_TOKEN_TYPES = ["int4", "int4", "float4", "float4", "float4", "float4"]
PAIR_TOKEN_TYPES = ["int4", "int4", "float4", "float4"]

Key = tuple[str, int, int]  # (size, seed, step): one checkpoint of the grid


def returning(cur: psycopg.Cursor, query: str, /, **params: Any) -> int:
    """Run the named INSERT ... RETURNING and return the new row's id."""
    row = cur.execute(Q[query], params).fetchone()
    assert row is not None  # RETURNING of a one-row INSERT
    return int(row[0])


def execute(cur: psycopg.Cursor, query: str, /, **params: Any) -> None:
    cur.execute(Q[query], params)


def insert_suite(
    cur: psycopg.Cursor,
    name: str,
    *,
    source: str = "local",
    tokenizer: str = "t",
    tokenizer_sha256: str | None = None,
    spec: Mapping[str, Any] | None = None,
) -> int:
    return returning(
        cur,
        "insert_suite",
        name=name,
        source=source,
        tokenizer=tokenizer,
        tokenizer_sha256=tokenizer_sha256,
        spec=json.dumps(spec) if spec else "{}",
    )


@dataclass(frozen=True)
class CorpusRow:
    """The corpus table's row (what ``corpus add`` records about a text)."""

    name: str
    vocab_size: int
    n_documents: int
    n_positions: int
    tokenizer: str = "t"
    tokenizer_sha256: str = "x"
    content_sha256: str = "y"
    spacy_model: str | None = None
    frequency_source: str = "self"
    words_sha256: str | None = None


def insert_corpus(cur: psycopg.Cursor, corpus: CorpusRow) -> int:
    query = "insert_corpus" if corpus.words_sha256 is None else "insert_corpus_with_words"
    return returning(cur, query, **corpus.__dict__)


def copy_rows(cur: psycopg.Cursor, name: str, rows: Iterable[Sequence[Any]]) -> None:
    """COPY text rows with the named ``COPY ... FROM STDIN`` (copy_vocab_token, copy_position, copy_corpus_word)."""
    with cur.copy(Q[name]) as cp:
        for row in rows:
            cp.write_row(row)


def position_ids(cur: psycopg.Cursor, corpus_id: int) -> np.ndarray:
    """The corpus's position ids (int32) in the order its positions were written."""
    rows = cur.execute(Q["position_ids"], {"corpus_id": corpus_id}).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int32)


def insert_grid(
    cur: psycopg.Cursor,
    suite_id: int,
    sizes: Sequence[str],
    seeds: Sequence[int],
    steps: Sequence[int],
    *,
    run_source: Callable[[str, int], str],
    weights_sha256: Callable[[str, int, int], str | None] = lambda size, seed, step: None,
    n_params: Callable[[int], int | None] = lambda rank: None,
) -> dict[Key, int]:
    """A model per size (``size_rank`` in the order given), a run per (size, seed), a checkpoint per (size, seed,
    step); returns the checkpoint ids by (size, seed, step)."""
    ckpt: dict[Key, int] = {}
    for rank, size in enumerate(sizes):
        model_id = returning(cur, "insert_model", suite_id=suite_id, size=size, size_rank=rank, n_params=n_params(rank))
        for seed in seeds:
            run_id = returning(cur, "insert_run", model_id=model_id, seed=seed, source=run_source(size, seed))
            for step in steps:
                sha = weights_sha256(size, seed, step)
                ckpt[size, seed, step] = returning(
                    cur, "insert_checkpoint", run_id=run_id, step=step, weights_sha256=sha
                )
    return ckpt


def insert_comparison(cur: psycopg.Cursor, kind: str, checkpoint_a: int, checkpoint_b: int) -> int:
    return returning(cur, "insert_comparison", kind=kind, checkpoint_a=checkpoint_a, checkpoint_b=checkpoint_b)


def copy_checkpoint_tokens(cur: psycopg.Cursor, columns: Mapping[str, np.ndarray]) -> int:
    """checkpoint_token rows by binary COPY (checkpoint_id, position_id, ce, entropy, kl_uniform, kl_unigram)."""
    return copy_into(cur, "checkpoint_token", columns, CHECKPOINT_TOKEN_TYPES)


def copy_pair_tokens(cur: psycopg.Cursor, columns: Mapping[str, np.ndarray]) -> int:
    """pair_token rows by binary COPY (comparison_id, position_id, kl_ab, kl_ba)."""
    return copy_into(cur, "pair_token", columns, PAIR_TOKEN_TYPES)


def insert_ledger(cur: psycopg.Cursor, suite_id: int, corpus_id: int, units: Iterable[tuple[str, bool, int]]) -> None:
    """One finished ingest run and its units: (unit_key, done, checkpoint_token rows) each, done or failed."""
    run_id = returning(cur, "insert_ingest_run")
    for unit_key, done, rows in units:
        execute(
            cur,
            "insert_ingest_unit",
            suite_id=suite_id,
            corpus_id=corpus_id,
            unit_key=unit_key,
            status="done" if done else "failed",
            ingest_run_id=run_id,
            rows_checkpoint_token=rows,
        )
