"""Token frequency and the smoothed unigram reference q.

Frequency source (one per corpus, recorded in ``corpus.frequency_source``):

- ``self`` (default): counts of each token id over the corpus's own full token sequences, BOS/EOS included when
  the corpus adds them (the convention of the Pile counts file, which counts BOS and EOS once per document);
- a ``.npy`` file: an integer array indexed by token id, of length ``len(tokenizer)``
  (e.g. ``pile_validation_unigram_counts.npy``);
- another text source, tokenised exactly like the corpus (same tokenizer, BOS/EOS options).

Smoothed unigram (stored in ``vocab_token.unigram_logprob``, natural log)::

    q(v) = (c(v) + alpha) / (N + alpha * |V|),   N = sum_v c(v)

Add-alpha smoothing with ``alpha = 1`` (Laplace) by default: every token of the real vocabulary gets q > 0, so
KL(p || q) is finite for any model distribution p (tokens the source never saw, e.g. 256 ids of the Pile
counts, get q = 1/(N + |V|)). ``alpha`` is stored in ``corpus.options``.

Frequency bins (derived in SQL by the views, never stored; ``frequency_bin_label`` is the reference
implementation the SQL must match): decades by the count c of the target token,

    c = 0               -> '0'
    10^k <= c < 10^(k+1) -> '[10^k,10^(k+1))' written out, e.g. '[1,10)', '[10,100)', '[1000,10000)'

so a label's edges are exactly its bin's edges (c = 10 falls in '[10,100)'). k must be computed exactly on
integers (in SQL ``length(c::text) - 1``), not as ``floor(log10(c))`` in floating point.
``log_frequency`` = ln(c) for c >= 1, NULL for c = 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from convdiv.errors import ConvdivError

DEFAULT_ALPHA = 1.0


def count_tokens(sequences: Iterable[np.ndarray], vocab_size: int) -> np.ndarray:
    """c(v): int64 counts of each token id over all sequences (``np.bincount`` with ``minlength=|V|``)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for ids in sequences:
        if len(ids):
            counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size)[:vocab_size]
    return counts


def load_counts(path: str | Path, vocab_size: int) -> np.ndarray:
    """Read a ``.npy`` counts array indexed by token id; ConvdivError naming the file if it does not fit."""
    path = Path(path)
    try:
        counts = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ConvdivError(f"frequency counts file not found: {path}") from None
    except (ValueError, OSError, EOFError) as exc:  # not a .npy array, a pickle, a folder, unreadable, empty
        raise ConvdivError(f"cannot read frequency counts {path}: not a .npy array ({exc})") from None
    return validate_counts(counts, vocab_size, str(path))


def validate_counts(counts, vocab_size: int, what: str = "frequency counts") -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.shape[0] != vocab_size:
        raise ConvdivError(
            f"{what}: expected a 1-d array of {vocab_size} counts (len(tokenizer)), got shape {counts.shape}"
        )
    if not (np.issubdtype(counts.dtype, np.integer) or np.issubdtype(counts.dtype, np.floating)):
        raise ConvdivError(f"{what}: counts must be numbers, got dtype {counts.dtype}")
    if np.issubdtype(counts.dtype, np.floating):
        if not np.all(np.isfinite(counts)) or np.any(counts != np.round(counts)):
            raise ConvdivError(f"{what}: counts must be whole numbers")
    if np.any(counts < 0):
        raise ConvdivError(f"{what}: counts must be >= 0 (token id {int(np.argmin(counts))} is negative)")
    return counts.astype(np.int64)


def unigram_logprob(counts: np.ndarray, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """log q(v) in nats, q(v) = (c(v) + alpha) / (N + alpha |V|); float64, sums (in prob space) to 1."""
    if alpha <= 0:
        raise ConvdivError(f"unigram smoothing alpha must be > 0, got {alpha}")
    counts = np.asarray(counts, dtype=np.float64)
    return np.log(counts + alpha) - np.log(counts.sum() + alpha * counts.shape[0])


def frequency_bin_label(count: int) -> str:
    """The decade bin of a count: '0', '[1,10)', '[10,100)', ... (the rule the SQL views implement)."""
    count = int(count)
    if count < 0:
        raise ValueError(f"negative count {count}")
    if count == 0:
        return "0"
    k = len(str(count)) - 1  # exact decade on integers; floor(log10) in floats errs near powers of ten
    return f"[{10**k},{10 ** (k + 1)})"


def counts_sha256(counts: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(counts, dtype="<i8").tobytes()).hexdigest()
