"""A unit's fact rows into the warehouse, inside its publish transaction: checked, then one binary COPY per table.

The publish (:func:`convdiv.warehouse.ledger.publish_unit`) used to COPY a unit's rows into temporary staging
tables, check them there in SQL and ``INSERT ... SELECT`` them into the facts: every row was written twice, and the
facts part of a publish ran at 0.74-0.82x ``psql \\copy`` of the same rows (issue 23). The checks need no staging:

- row counts, finiteness and KL >= 0 are checked on the numpy columns (the same rules as before: every value
  finite, KL to uniform and unigram and both pair KLs >= 0);
- references: every checkpoint row's checkpoint is owned by the unit and every pair row's comparison is (its kinds,
  with checkpoint b among its checkpoints; one indexed query), and every position is one of the unit's corpus (one
  count over the unit's position-id range; a lookup per distinct position only when that range has gaps);

then what the unit owned before is deleted and the rows are COPYed straight into ``checkpoint_token`` and
``pair_token`` (routed to the corpus's partitions), as ``psql \\copy`` would. Nothing is written when a check
fails, and the transaction makes the rest all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import psycopg

from convdiv.errors import ConvdivError
from convdiv.warehouse import loader, queries

CHECKPOINT_TOKEN_TYPES = ("int4", "int4", "float4", "float4", "float4", "float4")
PAIR_TOKEN_TYPES = ("int4", "int4", "float4", "float4")
Q = queries.WAREHOUSE


def write(
    cur: psycopg.Cursor,
    unit_key: str,
    corpus_id: int,
    owned: Mapping[str, Any],
    checkpoint_token: Mapping[str, np.ndarray],
    pair_token: Mapping[str, np.ndarray],
    expected: tuple[int, int],
    owns_checkpoint_rows: bool,
) -> tuple[int, int]:
    """Check the unit's rows, delete what it owned, COPY its rows; returns (checkpoint rows, pair rows).

    ``owned``: checkpoint_ids, corpus_id and kinds as the ``delete_owned_*`` queries take them. Raises
    :class:`ConvdivError` naming the unit, before anything is written, when a check fails.
    """
    _check_values(unit_key, checkpoint_token, pair_token, expected)
    _check_references(cur, unit_key, corpus_id, owned, checkpoint_token, pair_token)
    if owns_checkpoint_rows:
        cur.execute(Q["delete_owned_checkpoint_rows"], owned)
    cur.execute(Q["delete_owned_pair_rows"], owned)
    n_ckpt = loader.copy_into(cur, "checkpoint_token", checkpoint_token, CHECKPOINT_TOKEN_TYPES)
    n_pair = loader.copy_into(cur, "pair_token", pair_token, PAIR_TOKEN_TYPES)
    return n_ckpt, n_pair


def _length(columns: Mapping[str, np.ndarray]) -> int:
    lengths = {len(c) for c in columns.values()}
    return lengths.pop() if len(lengths) == 1 else -1


def _bad_values(columns: Mapping[str, np.ndarray], values: Sequence[str], nonnegative: Sequence[str]) -> int:
    """Rows with a non-finite value or a negative one where it must not be."""
    bad = np.zeros(_length(columns), dtype=bool)
    for name in values:
        bad |= ~np.isfinite(columns[name])
    for name in nonnegative:
        bad |= columns[name] < 0
    return int(bad.sum())


def _check_values(
    unit_key: str,
    checkpoint_token: Mapping[str, np.ndarray],
    pair_token: Mapping[str, np.ndarray],
    expected: tuple[int, int],
) -> None:
    n_ckpt, n_pair = _length(checkpoint_token), _length(pair_token)
    problems = []
    if n_ckpt != expected[0]:
        problems.append(f"{n_ckpt} checkpoint_token rows given, expected {expected[0]}")
    if n_pair != expected[1]:
        problems.append(f"{n_pair} pair_token rows given, expected {expected[1]}")
    if not problems:
        bad = _bad_values(
            checkpoint_token, ("ce", "entropy", "kl_uniform", "kl_unigram"), ("kl_uniform", "kl_unigram")
        ) + _bad_values(pair_token, ("kl_ab", "kl_ba"), ("kl_ab", "kl_ba"))
        if bad:
            problems.append(f"{bad} rows with non-finite values or negative KL")
    if problems:
        raise ConvdivError(f"ingest unit {unit_key}: validation failed: {'; '.join(problems)}")


def _check_references(
    cur: psycopg.Cursor,
    unit_key: str,
    corpus_id: int,
    owned: Mapping[str, Any],
    checkpoint_token: Mapping[str, np.ndarray],
    pair_token: Mapping[str, np.ndarray],
) -> None:
    comparisons = np.array([r[0] for r in cur.execute(Q["owned_comparisons"], owned).fetchall()], dtype=np.int64)
    other_ckpt = int((~np.isin(checkpoint_token["checkpoint_id"], np.asarray(owned["checkpoint_ids"]))).sum())
    other_pair = int((~np.isin(pair_token["comparison_id"], comparisons)).sum())
    outside = _outside_corpus(cur, corpus_id, checkpoint_token["position_id"], pair_token["position_id"])
    if other_ckpt or other_pair or outside:
        raise ConvdivError(
            f"ingest unit {unit_key}: rows reference what the unit does not own: {other_ckpt} checkpoint rows of "
            f"other checkpoints, {outside} rows of positions outside corpus {corpus_id}, {other_pair} pair rows of "
            "other comparisons; not published (this is a bug in convdiv: please report it)"
        )


def _outside_corpus(cur: psycopg.Cursor, corpus_id: int, *position_ids: np.ndarray) -> int:
    """Rows whose position is not one of the corpus's. A corpus's positions are one id range (corpus add assigns
    them under one lock), so one count of the corpus's positions between the unit's lowest and highest id decides
    it when it equals the range's width; else the distinct ids are looked up one by one."""
    used = np.unique(np.concatenate(position_ids)).astype(np.int64)
    if not len(used):
        return 0
    lo, hi = int(used[0]), int(used[-1])
    row = cur.execute(Q["corpus_positions_between"], {"corpus_id": corpus_id, "lo": lo, "hi": hi}).fetchone()
    if row is not None and row[0] == hi - lo + 1:
        return 0
    among = {"corpus_id": corpus_id, "ids": used.tolist()}
    found = np.array([r[0] for r in cur.execute(Q["corpus_positions_among"], among).fetchall()], dtype=np.int64)
    return sum(int((~np.isin(ids, found)).sum()) for ids in position_ids)
