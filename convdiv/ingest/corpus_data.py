"""A corpus as the extract engine reads it: its documents' token sequences, position ids and log unigram.

Read once per worker (:func:`read_corpus`, by binary COPY from the warehouse) and shared by every group it computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convdiv.errors import ConvdivError
from convdiv.warehouse import queries

Q = queries.beside(__file__)  # corpus_positions, corpus_log_unigram: sql/corpus_data.sql


@dataclass
class CorpusData:
    position_ids: np.ndarray  # int32 [N], (document, idx) order
    documents: list[np.ndarray]  # int64 full token sequences
    log_unigram: np.ndarray  # float64 [V]


def read_corpus(conn, corpus_id: int, vocab_size: int, corpus_name: str) -> CorpusData:
    """Documents (full token sequences), position ids and log unigram of a corpus, by binary COPY."""
    from convdiv.warehouse.loader import copy_out

    with conn.cursor() as cur:
        pid, doc, idx, ctx, tgt = copy_out(cur, Q["corpus_positions"], ["int4"] * 5, {"corpus_id": corpus_id})
        token_ids, log_unigram = copy_out(cur, Q["corpus_log_unigram"], ["int4", "float8"], {"corpus_id": corpus_id})
    if len(pid) == 0:
        raise ConvdivError(f"corpus {corpus_name!r} has no positions")
    if len(token_ids) != vocab_size or np.any(token_ids != np.arange(vocab_size)):
        raise ConvdivError(
            f"corpus {corpus_name!r}: vocab_token holds {len(token_ids)} rows, expected token ids 0..{vocab_size - 1}"
        )
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    ends = np.r_[starts[1:], len(doc)]
    documents = []
    for s, e in zip(starts, ends):
        if np.any(idx[s:e] != np.arange(e - s)) or np.any(ctx[s + 1 : e] != tgt[s : e - 1]):
            raise ConvdivError(f"corpus {corpus_name!r}: document {int(doc[s])} has gaps or inconsistent positions")
        documents.append(np.concatenate([ctx[s : s + 1], tgt[s:e]]).astype(np.int64))
    return CorpusData(position_ids=pid.astype(np.int32), documents=documents, log_unigram=log_unigram)
