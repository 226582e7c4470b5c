"""extract_group: run a group of checkpoints over a corpus once and reduce every per-token measurement.

For every batch of windows (see windows.py) each model is forward-passed exactly once; its final hidden states
at the scored positions are kept (tokens x hidden, small). The output head then runs over chunks of those
positions straight into a reused logits buffer, and the reductions read the buffer: only float32 scalars per
position come back, and no distribution leaves the batch. On CPU the head runs once per batch and model, as in a
plain Hugging Face forward, unless the memory budget (_BUFFER_BYTES: models x rows x logit width float32) needs
smaller chunks; the reductions are fused.py's compiled kernel. On CUDA the head runs in fixed tiles and the
reductions are kernels.py's torch ops (the same code also runs on CPU, where the tests compare the two).

Same inputs, same bits: a position's results do not depend on which other checkpoints are in the group, on the
chunk (which follows the number of models and the memory budget), on the pairs requested or on the number of
threads. The reductions are per position in a fixed order (fused.py, kernels.py). The output head, the one
matrix product after the forward, must give a row the same bits whatever the other rows: on CPU its products
have a multiple of _HEAD_ALIGN rows (the last chunk zero-padded), and MKL's sgemm gives a row the same bits for
any number of rows from 16 up, with 1 or 2 threads (measured; tests/test_extract_determinism.py checks chunks of
64 rows to whole batches, 1 and 2 threads); on CUDA every product has exactly _HEAD_TILE_CUDA rows, aligned to the
batch start, in reused buffers. The forward batches themselves depend only on the corpus, context length and
batch_tokens.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from convdiv.errors import ConvdivError
from convdiv.extract.fused import FusedReducer
from convdiv.extract.kernels import BLOCK, STAT_COLUMNS, ChunkReducer
from convdiv.extract.windows import Window, document_offsets, plan_batches, plan_windows

# Architectures whose CausalLM logits are exactly output_embeddings(base_model(...).last_hidden_state): for
# these we apply the head only to scored positions (all of its output columns: ce is over the full width).
_HEAD_ON_HIDDEN = {"gpt_neox", "gpt2", "llama", "mistral", "qwen2"}

# Bytes of reduction buffers per call. CPU: the logits buffer, models x chunk x logit width float32 (a 5-model
# Pythia group fits 1,064 positions per GiB). CUDA: kernels.ChunkReducer's (2 x models + 3) x chunk x |V| float32.
_BUFFER_BYTES = {"cpu": 1 << 30, "cuda": 8 << 30}
# CPU: the head's products have a multiple of this many rows (see the module docstring); chunks too.
_HEAD_ALIGN = 64
# CUDA: positions per reduction chunk (at most) and rows per head product (fixed: cuBLAS picks its kernel by shape).
_CUDA_CHUNK = 4096
_HEAD_TILE_CUDA = 1024
# The reduction kernel by device (index: is it CUDA?); tests run the CUDA one on CPU too.
_KERNELS = {False: "fused", True: "tiles"}


@dataclass
class ExtractResult:
    """Per-position results in (document, x) order; N = sum(len(doc) - 1)."""

    stats: dict[Hashable, np.ndarray] = field(default_factory=dict)  # float32 (N, 4), columns STAT_COLUMNS
    pair_kl: dict[tuple[Hashable, Hashable], np.ndarray] = field(default_factory=dict)  # float32 (N, 2)
    forward_passes: int = 0


def default_context_length(models: Mapping[Hashable, torch.nn.Module]) -> int:
    """The shortest max_position_embeddings among the models (every model must see the same windows)."""
    lengths = []
    for key, model in models.items():
        n = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if n is None:
            raise ConvdivError(f"model {key!r} declares no max_position_embeddings; pass context_length")
        lengths.append(int(n))
    return min(lengths)


def _kernel(device: torch.device) -> str:
    """'fused' (fused.py, CPU) or 'tiles' (kernels.ChunkReducer on head tiles, CUDA)."""
    return _KERNELS[device.type == "cuda"]


def _chunk_size(device: torch.device, n_models: int, width: int, largest: int) -> int:
    """Positions per reduction chunk: the whole largest batch if its buffers fit the memory budget, else as many
    as fit; a multiple of the head's row alignment (fused) or tile (tiles), at least one of them.

    width: the logit buffer's row (fused: the widest model's output; tiles: |V|). largest: the most positions any
    batch scores (the buffers are allocated, and page-faulted, once per call, so no bigger than needed).
    """
    budget = _BUFFER_BYTES[device.type if device.type == "cuda" else "cpu"]
    if _kernel(device) == "tiles":
        tile = _HEAD_TILE_CUDA
        # kernels.ChunkReducer: y and e per model, 3 scratch rows, of |V| (block-padded) float32 per position
        fits = budget // (4 * (width + BLOCK) * (2 * n_models + 3))
        return max(1, min(_CUDA_CHUNK, fits, -(-largest // tile) * tile) // tile) * tile
    align = _HEAD_ALIGN
    fits = budget // (4 * width * n_models)
    return max(1, min(fits, -(-largest // align) * align) // align) * align


class _Runner:
    """Forward pass of one model on a padded batch -> hidden states (or logits) at the scored positions."""

    def __init__(self, key: Hashable, model: torch.nn.Module, vocab_size: int):
        self.key = key
        self.model = model
        config = getattr(model, "config", None)
        head = _output_embeddings(model)
        base = getattr(model, "base_model", None)
        self.on_hidden = False
        if (
            getattr(config, "model_type", None) in _HEAD_ON_HIDDEN
            and isinstance(head, torch.nn.Linear)
            and isinstance(base, torch.nn.Module)
        ):
            self.on_hidden = True
            self.base_model = base
            # every output column: ce is over the model's full output width (padded columns included)
            self.weight = head.weight
            self.bias: torch.Tensor | None = head.bias
        width = _logit_width(model)
        if width is not None and width < vocab_size:
            raise ConvdivError(f"model {key!r} has {width} logits, fewer than the vocabulary's {vocab_size}")
        self.width = int(width) if width is not None else vocab_size

    def forward(self, input_ids, attention_mask, rows, cols) -> torch.Tensor:
        if self.on_hidden:
            out = self.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            return out.last_hidden_state[rows, cols]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.logits[rows, cols]

    def logits_into(self, forwarded: torch.Tensor, lo: int, hi: int, out: torch.Tensor) -> None:
        """Logits of the scored rows [lo, hi) into out[: hi - lo] (CPU; out: (R, buffer width) float32, R >= hi - lo).

        The head's product has all R rows of `out` (a multiple of _HEAD_ALIGN; the input zero-padded past
        hi - lo) and is written straight into `out` when the model runs in float32.
        """
        rows, width = hi - lo, self.width
        if not self.on_hidden:
            out[:rows, :width].copy_(forwarded[lo:hi])
            return
        inp = forwarded[lo:hi]
        if rows < out.shape[0]:
            inp = torch.zeros(out.shape[0], forwarded.shape[1], dtype=forwarded.dtype)
            inp[:rows] = forwarded[lo:hi]
        if self.weight.dtype == torch.float32 and width == out.shape[1]:
            torch.matmul(inp, self.weight.T, out=out)
            if self.bias is not None:
                out.add_(self.bias)
        else:  # a bf16/fp16 head, or a model narrower than the buffer: its own product, then upcast
            out[:, :width].copy_(torch.nn.functional.linear(inp, self.weight, self.bias))

    def logits_tile(self, forwarded: torch.Tensor, lo: int, hi: int, tile: int, buffers: dict) -> torch.Tensor:
        """Logits (hi - lo, W) of the scored rows [lo, hi), hi - lo <= tile (CUDA).

        The head runs on a fixed (tile, hidden) input buffer, zero-padded past hi - lo, into a reused (tile, W)
        output buffer: the same shapes and addresses for every tile (see the module docstring).
        """
        if not self.on_hidden:
            return forwarded[lo:hi]
        key = (forwarded.dtype, forwarded.device, forwarded.shape[1], self.weight.shape[0], tile)
        bufs = buffers.get(key)
        if bufs is None:
            bufs = buffers[key] = (
                torch.zeros(tile, forwarded.shape[1], dtype=forwarded.dtype, device=forwarded.device),
                torch.empty(tile, self.weight.shape[0], dtype=forwarded.dtype, device=forwarded.device),
            )
        inp, out = bufs
        rows = hi - lo
        inp[:rows] = forwarded[lo:hi]
        inp[rows:] = 0
        torch.matmul(inp, self.weight.T, out=out)
        if self.bias is not None:
            out.add_(self.bias)
        return out[:rows]


def _output_embeddings(model: torch.nn.Module) -> object:
    """The model's output head (``get_output_embeddings()`` of a transformers model), None without one."""
    get = getattr(model, "get_output_embeddings", None)
    return get() if get is not None else None


def _logit_width(model) -> int | None:
    head = _output_embeddings(model)
    if isinstance(head, torch.nn.Linear):
        return int(head.out_features)
    return getattr(getattr(model, "config", None), "vocab_size", None)


def _input_width(model) -> int | None:
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return int(emb.num_embeddings) if isinstance(emb, torch.nn.Embedding) else None


def _prepare_models(models, device, dtype):
    for model in models.values():
        try:
            p = next(model.parameters())
        except StopIteration:
            continue
        if p.device != device or p.dtype != dtype:
            model.to(device=device, dtype=dtype)
        model.eval()


class NonFiniteLogits(ConvdivError):
    """A model of the group produced NaN or infinite logits; ``key`` names it (the caller may drop that model and
    compute the others again)."""

    def __init__(self, key: Hashable):
        super().__init__(f"model {key!r} produced NaN or infinite logits")
        self.key = key


def extract_group(
    models: Mapping[Hashable, torch.nn.Module],
    documents: Sequence[np.ndarray],
    log_unigram: np.ndarray,
    vocab_size: int,
    pairs: Sequence[tuple[Hashable, Hashable]],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    batch_tokens: int | None = 8192,
    context_length: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    window_stride: int | None = None,
) -> ExtractResult:
    """Per-token CE, entropy, KL to uniform and unigram for every model, and both KL directions for every pair.

    models: key -> causal LM (moved to `device`/`dtype` and put in eval mode if not already there).
    documents: int64 token sequences; positions never see another document's tokens.
    log_unigram: natural-log smoothed unigram q over the vocabulary, shape (vocab_size,).
    pairs: ordered (a, b) -> pair_kl[(a, b)][:, 0] = KL(p_a||p_b), [:, 1] = KL(p_b||p_a).
    context_length: window length (default: the models' smallest max_position_embeddings); longer documents
        are scored in overlapping windows with stride context_length // 2 (window_stride), see windows.py.
    batch_tokens: padded tokens per forward batch (rows x longest window; a window is never split).
    progress: optional callback(positions_done, positions_total), called after every batch.
    Raises ConvdivError (naming the model key) on NaN/inf logits, and on inputs that do not fit the models.
    """
    if not models:
        raise ConvdivError("extract_group needs at least one model")
    keys = list(models)
    _check_pairs(keys, pairs)
    device = torch.device(device)
    log_unigram = _check_unigram(log_unigram, vocab_size)
    docs = _check_documents(models, documents, vocab_size)
    context_length = _check_context(models, context_length, window_stride)
    lengths = [len(d) for d in docs]
    n_positions = int(sum(max(n - 1, 0) for n in lengths))
    batches = plan_batches(plan_windows(lengths, context_length, window_stride), int(batch_tokens or 8192))

    result = ExtractResult(
        stats={k: np.full((n_positions, len(STAT_COLUMNS)), np.nan, dtype=np.float32) for k in keys},
        pair_kl={(a, b): np.full((n_positions, 2), np.nan, dtype=np.float32) for a, b in pairs},
    )
    if n_positions == 0:
        return result

    _prepare_models(models, device, dtype)
    runners = [_Runner(k, models[k], vocab_size) for k in keys]
    largest = max(sum(w.n_scored for w in b) for b in batches)
    reduce_batch = _batch_reducer(runners, largest, log_unigram, vocab_size, device)
    try:
        offsets = document_offsets(lengths)
        _run_batches(result, batches, docs, offsets, device, runners, reduce_batch, progress, n_positions)
    finally:
        reduce_batch.close()
    return result


def _check_pairs(keys: list[Hashable], pairs: Sequence[tuple[Hashable, Hashable]]) -> None:
    index = set(keys)
    for a, b in pairs:
        for k in (a, b):
            if k not in index:
                raise ConvdivError(f"pair ({a!r}, {b!r}) names model {k!r}, which is not in the group")


def _check_unigram(log_unigram: np.ndarray, vocab_size: int) -> np.ndarray:
    log_unigram = np.asarray(log_unigram, dtype=np.float64)
    if log_unigram.shape != (vocab_size,):
        raise ConvdivError(f"log_unigram has shape {log_unigram.shape}, expected ({vocab_size},)")
    if not np.isfinite(log_unigram).all():
        raise ConvdivError("log_unigram has non-finite entries (the unigram must be smoothed)")
    return log_unigram


def _check_documents(models, documents: Sequence[np.ndarray], vocab_size: int) -> list[np.ndarray]:
    """The documents as flat int64 arrays, their ids inside every model's embedding and targets inside |V|."""
    docs = [np.asarray(d, dtype=np.int64).reshape(-1) for d in documents]
    input_width = min((w for w in (_input_width(m) for m in models.values()) if w is not None), default=None)
    for i, d in enumerate(docs):
        if len(d) == 0:
            continue
        if d.min() < 0 or (input_width is not None and d.max() >= input_width):
            bound = f" (0..{input_width - 1})" if input_width is not None else ""
            raise ConvdivError(f"document {i} has token ids outside the models' embedding{bound}")
        if len(d) > 1 and d[1:].max() >= vocab_size:
            raise ConvdivError(f"document {i} has target token ids >= vocab_size {vocab_size}")
    return docs


def _check_context(models, context_length: int | None, window_stride: int | None) -> int:
    """The window length: context_length or the models' default, within every declared max_position_embeddings."""
    declared = [getattr(getattr(m, "config", None), "max_position_embeddings", None) for m in models.values()]
    # The models' shortest declared context bounds the windows; models that declare none (other
    # architectures, passed with an explicit context_length) leave it unbounded.
    longest = min((int(n) for n in declared if n is not None), default=None)
    context_length = int(context_length or default_context_length(models))
    if context_length < 2 or (longest is not None and context_length > longest):
        bound = f"[2, {longest}] (the models' max_position_embeddings)" if longest is not None else ">= 2"
        raise ConvdivError(f"context_length {context_length} must be in {bound}")
    if window_stride is not None and not 1 <= window_stride < context_length:
        raise ConvdivError(f"window_stride {window_stride} must be in [1, context_length - 1]")
    return context_length


def _batch_reducer(runners, largest: int, log_unigram: np.ndarray, vocab_size: int, device) -> _BatchReducer:
    """The device's reducer (see _kernel), its chunk chosen from the memory budget for the largest batch."""
    if _kernel(device) == "tiles":
        chunk = _chunk_size(device, len(runners), vocab_size, largest)
        return _TileReducer(runners, chunk, log_unigram, device)
    width = max(r.width for r in runners)
    return _FusedBatchReducer(runners, _chunk_size(device, len(runners), width, largest), width, log_unigram)


def _fixed_order_attention(device) -> contextlib.AbstractContextManager:
    """On CPU, attention through SDPA's math backend: its products and softmax give the same bits whatever the
    thread count, while the CPU flash kernel's blocked accumulation changed the last bit of some attention outputs
    between 1, 2 and 3 threads (tests/test_extract_determinism.py). CUDA keeps its kernels."""
    if torch.device(device).type != "cpu":
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.MATH])


def _run_batches(result, batches, docs, offsets, device, runners, reduce_batch, progress, n_positions):
    index = {r.key: i for i, r in enumerate(runners)}
    pair_idx = np.array([(index[a], index[b]) for a, b in result.pair_kl], dtype=np.int64).reshape(-1, 2)
    done = 0
    with torch.inference_mode(), _fixed_order_attention(device):
        for batch in batches:
            ids, mask, rows, cols, targets, out_rows = _pack(batch, docs, offsets, device)
            forwarded = []
            for r in runners:
                forwarded.append(r.forward(ids, mask, rows, cols))
                result.forward_passes += 1
            stats, pkl = reduce_batch(forwarded, targets, pair_idx)
            for k, r in enumerate(runners):
                result.stats[r.key][out_rows] = stats[k]
            for j, p in enumerate(result.pair_kl):
                result.pair_kl[p][out_rows] = pkl[j]
            done += len(out_rows)
            if progress is not None:
                progress(done, n_positions)


def _check_finite(runners, stats) -> None:
    for k, r in enumerate(runners):
        if not np.isfinite(stats[k]).all():
            raise NonFiniteLogits(r.key)


class _BatchReducer:
    """(forwarded per model, targets, pairs) of one batch -> float32 stats (models, n, 4), pair KLs (pairs, n, 2)."""

    def __call__(self, forwarded, targets, pairs) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Give the buffers back for the next call (see _take)."""


class _FusedBatchReducer(_BatchReducer):
    """CPU: each chunk's rows split among worker threads; a worker runs every model's head for its rows straight
    into the fused reducer's logits buffer, then fused.py's kernel on the same rows.

    The workers run torch (and MKL) single-threaded: one product per model and worker, with a multiple of
    _HEAD_ALIGN rows. Single-threaded, MKL's sgemm gives a row the same bits whatever the number of rows (>= 16),
    while its multi-threaded products split the sum differently by shape and thread count at hidden >= 1024
    (measured; see the module docstring), so the split cannot change a bit.
    """

    def __init__(self, runners, chunk, width, log_unigram):
        self.runners, self.chunk = runners, chunk
        self.key = ("fused", len(runners), chunk, width, len(log_unigram))
        self.reducer = _take(self.key, lambda: FusedReducer(len(runners), chunk, width, log_unigram))
        self.reducer.set_unigram(log_unigram)
        self.reducer.widths[:] = [r.width for r in runners]
        self.buffer = torch.from_numpy(self.reducer.logits)
        self.pool = _workers(torch.get_num_threads())

    def __call__(self, forwarded, targets, pairs):
        n, targets = int(targets.shape[0]), targets.numpy()
        stats = np.empty((len(self.runners), n, len(STAT_COLUMNS)), dtype=np.float64)
        pkl = np.empty((len(pairs), n, 2), dtype=np.float64)
        for lo in range(0, n, self.chunk):
            rows = min(self.chunk, n - lo)
            blocks = -(-rows // _HEAD_ALIGN)
            cuts = [_HEAD_ALIGN * (blocks * i // self.pool.size) for i in range(self.pool.size + 1)]
            jobs = [(lo, r0, r1, rows) for r0, r1 in zip(cuts[:-1], cuts[1:]) if r1 > r0]
            work = (forwarded, targets[lo : lo + rows], pairs, stats[:, lo : lo + rows], pkl[:, lo : lo + rows])
            for future in [self.pool.submit(self._rows, job, *work) for job in jobs]:
                future.result()
        _check_finite(self.runners, stats)
        return stats.astype(np.float32), pkl.astype(np.float32)

    def _rows(self, job, forwarded, targets, pairs, stats, kl):
        """One worker's rows [r0, r1) of the chunk starting at batch row lo (rows past `rows` are padding)."""
        lo, r0, r1, rows = job
        with torch.inference_mode():
            for k, r in enumerate(self.runners):
                r.logits_into(forwarded[k], lo + r0, lo + min(r1, rows), self.buffer[k, r0:r1])
        self.reducer.reduce_rows(r0, min(r1, rows), targets, pairs, stats, kl)

    def close(self) -> None:
        _give_back(self.key, self.reducer)


class _Workers:
    """A thread pool whose threads run torch single-threaded (see _FusedBatchReducer)."""

    def __init__(self, size: int):
        self.size = size
        self.executor = ThreadPoolExecutor(size, "convdiv-extract", initializer=torch.set_num_threads, initargs=(1,))

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)


_WORKERS: dict[tuple[int, int], _Workers] = {}


def _workers(size: int) -> _Workers:
    """The pool of `size` workers of this process (a forked child gets its own: its parent's threads are gone)."""
    key = (os.getpid(), max(1, size))
    with _CACHE_LOCK:
        if key not in _WORKERS:
            _WORKERS[key] = _Workers(key[1])
        return _WORKERS[key]


class _TileReducer(_BatchReducer):
    """CUDA: the head in fixed tiles, each loaded into kernels.ChunkReducer (torch ops on the device)."""

    def __init__(self, runners, chunk, log_unigram, device):
        self.runners, self.chunk, self.device = runners, chunk, device
        lq = torch.from_numpy(log_unigram)
        self.key = ("tiles", len(runners), chunk, len(log_unigram), str(device))
        self.reducer = _take(self.key, lambda: ChunkReducer(len(runners), chunk, lq, device))
        self.reducer.set_unigram(lq)
        self.buffers: dict = {}

    def __call__(self, forwarded, targets, pairs):
        tile, n = _HEAD_TILE_CUDA, int(targets.shape[0])
        stats = torch.empty(len(self.runners), n, len(STAT_COLUMNS), dtype=torch.float64, device=self.device)
        pkl = torch.empty(len(pairs), n, 2, dtype=torch.float64, device=self.device)
        pair_list = [tuple(p) for p in pairs.tolist()]
        for lo in range(0, n, self.chunk):
            hi = min(lo + self.chunk, n)
            for k, r in enumerate(self.runners):
                for t in range(lo, hi, tile):  # tiles aligned to the batch start, whatever the chunk
                    logits = r.logits_tile(forwarded[k], t, min(t + tile, hi), tile, self.buffers)
                    if not self.reducer.load(k, logits, targets[t : min(t + tile, hi)], at=t - lo):
                        raise NonFiniteLogits(r.key)
            chunk_stats, kl = self.reducer.finish(pair_list)
            stats[:, lo:hi] = chunk_stats
            pkl[:, lo:hi] = kl
        stats_np = stats.to(torch.float32).cpu().numpy()
        _check_finite(self.runners, stats_np)
        return stats_np, pkl.to(torch.float32).cpu().numpy()

    def close(self) -> None:
        _give_back(self.key, self.reducer)


# One set of reduction buffers kept between calls: an ingest calls extract_group once per (size, step) group with
# the same shapes, and allocating + first-touching ~1 GB of buffers took ~14% of a CPU call. Taken out while in
# use, so concurrent calls never share one.
_REDUCER_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _take(key: tuple, build: Callable[[], Any]) -> Any:
    with _CACHE_LOCK:
        reducer = _REDUCER_CACHE.pop(key, None)
        if reducer is None:
            _REDUCER_CACHE.clear()  # at most one set of buffers held
    return build() if reducer is None else reducer


def _give_back(key: tuple, reducer: object) -> None:
    with _CACHE_LOCK:
        _REDUCER_CACHE.clear()
        _REDUCER_CACHE[key] = reducer


def release_buffers() -> None:
    """Free the reduction buffers kept between calls."""
    with _CACHE_LOCK:
        _REDUCER_CACHE.clear()


def _pack(batch: list[Window], docs, offsets, device):
    """Right-padded input ids + mask, and for the scored positions: (row, col), target ids, output rows."""
    width = max(w.n_tokens for w in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    rows, cols, targets, out_rows = [], [], [], []
    for i, w in enumerate(batch):
        tokens = docs[w.doc][w.start : w.stop]
        ids[i, : len(tokens)] = tokens
        mask[i, : len(tokens)] = 1
        xs = np.arange(w.score_from, w.stop, dtype=np.int64)  # targets x + 1 may lie just past the inputs
        rows.append(np.full(len(xs), i, dtype=np.int64))
        cols.append(xs - w.start)
        targets.append(docs[w.doc][xs + 1])
        out_rows.append(offsets[w.doc] + xs)

    def to(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return (
        to(ids),
        to(mask),
        to(np.concatenate(rows)),
        to(np.concatenate(cols)),
        to(np.concatenate(targets)),
        np.concatenate(out_rows),
    )
