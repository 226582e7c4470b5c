"""extract_group: run a group of checkpoints over a corpus once and reduce every per-token measurement.

For every batch of windows (see windows.py) each model is forward-passed exactly once; its final hidden states
at the scored positions are kept (tokens x hidden, small), and the output head, the softmax and all reductions
then run over chunks of positions (kernels.ChunkReducer), so at most (models x chunk x |V|) floats of
distributions exist at any time and none leaves the batch. Per-token statistics and every requested pair KL come
from the same chunk of logits; only float32 scalars per position come back. The same code runs on CPU and CUDA;
a bf16/fp16 forward is reduced in float32 with float64 scalars.

Same inputs, same bits: a position's results do not depend on which other checkpoints are in the group, on the
reduction chunk (which follows the number of models and memory) or on the pairs requested. The reductions are
elementwise or fixed-order trees (kernels.py), and the output head, the one matrix product after the forward,
always runs on tiles of exactly _HEAD_TILE rows aligned to the start of the batch (the last tile zero-padded) in
reused buffers, so every head product has the same shape, inputs and addresses whatever the grouping.
The forward batches themselves depend only on the corpus, context length and batch_tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from convdiv.errors import ConvdivError
from convdiv.extract.kernels import BLOCK, STAT_COLUMNS, ChunkReducer
from convdiv.extract.windows import Window, document_offsets, plan_batches, plan_windows

# Architectures whose CausalLM logits are exactly output_embeddings(base_model(...).last_hidden_state): for
# these we apply the head only to scored positions (all of its output columns: ce is over the full width).
_HEAD_ON_HIDDEN = {"gpt_neox", "gpt2", "llama", "mistral", "qwen2"}

# Positions per reduction chunk (at most; always a multiple of the head tile). The buffers hold
# (2 x models + 3) x chunk x |V| float32, so the chunk shrinks with the number of models; results do not depend
# on it (see the module docstring).
_CPU_CHUNK = 256
_CUDA_CHUNK = 4096
_BUFFER_BYTES = {"cpu": 1 << 30, "cuda": 8 << 30}
# Rows per output-head product: fixed, so that BLAS sees the same shapes whatever the chunk (a matrix product's
# row can change in the last bits with the number of rows). Large enough for an efficient product on each device.
_HEAD_TILE = {"cpu": 64, "cuda": 1024}


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


def _head_tile(device: torch.device) -> int:
    return _HEAD_TILE["cuda" if device.type == "cuda" else "cpu"]


def _chunk_size(device: torch.device, n_models: int, vocab_size: int) -> int:
    """Positions per reduction chunk: a multiple of the head tile that keeps the reducer's buffers in budget."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    tile = _head_tile(device)
    base = _CUDA_CHUNK if kind == "cuda" else _CPU_CHUNK
    # reducer buffers: y and e per model, 3 scratch rows, of |V| (block-padded) float32 per position
    fits = _BUFFER_BYTES[kind] // (4 * (vocab_size + BLOCK) * (2 * n_models + 3))
    return int(max(1, min(base, fits) // tile)) * tile


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

    def forward(self, input_ids, attention_mask, rows, cols) -> torch.Tensor:
        if self.on_hidden:
            out = self.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            return out.last_hidden_state[rows, cols]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.logits[rows, cols]

    def logits(self, forwarded: torch.Tensor, lo: int, hi: int, tile: int, buffers: dict) -> torch.Tensor:
        """Logits (hi - lo, W) of the scored rows [lo, hi), hi - lo <= tile.

        The head runs on a fixed (tile, hidden) input buffer, zero-padded past hi - lo, into a reused (tile, W)
        output buffer: the same shapes and addresses for every tile (see the module docstring; fresh 50 MB
        tensors per chunk also cost page faults comparable to the arithmetic on CPU).
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
    index = {k: i for i, k in enumerate(keys)}
    for a, b in pairs:
        for k in (a, b):
            if k not in index:
                raise ConvdivError(f"pair ({a!r}, {b!r}) names model {k!r}, which is not in the group")
    device = torch.device(device)
    log_unigram = np.asarray(log_unigram, dtype=np.float64)
    if log_unigram.shape != (vocab_size,):
        raise ConvdivError(f"log_unigram has shape {log_unigram.shape}, expected ({vocab_size},)")
    if not np.isfinite(log_unigram).all():
        raise ConvdivError("log_unigram has non-finite entries (the unigram must be smoothed)")

    docs = [np.asarray(d, dtype=np.int64).reshape(-1) for d in documents]
    lengths = [len(d) for d in docs]
    n_positions = int(sum(max(n - 1, 0) for n in lengths))
    input_width = min((w for w in (_input_width(m) for m in models.values()) if w is not None), default=None)
    for i, d in enumerate(docs):
        if len(d) == 0:
            continue
        if d.min() < 0 or (input_width is not None and d.max() >= input_width):
            bound = f" (0..{input_width - 1})" if input_width is not None else ""
            raise ConvdivError(f"document {i} has token ids outside the models' embedding{bound}")
        if len(d) > 1 and d[1:].max() >= vocab_size:
            raise ConvdivError(f"document {i} has target token ids >= vocab_size {vocab_size}")

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
    batch_tokens = int(batch_tokens or 8192)
    windows = plan_windows(lengths, context_length, window_stride)
    batches = plan_batches(windows, batch_tokens)
    offsets = document_offsets(lengths)

    result = ExtractResult(
        stats={k: np.full((n_positions, len(STAT_COLUMNS)), np.nan, dtype=np.float32) for k in keys},
        pair_kl={(a, b): np.full((n_positions, 2), np.nan, dtype=np.float32) for a, b in pairs},
    )
    if n_positions == 0:
        return result

    _prepare_models(models, device, dtype)
    runners = [_Runner(k, models[k], vocab_size) for k in keys]
    # no bigger than the largest batch (rounded up to whole head tiles): the buffers are allocated (and
    # page-faulted) once per call
    largest = max(sum(w.n_scored for w in b) for b in batches)
    tile = _head_tile(device)
    chunk = min(_chunk_size(device, len(keys), vocab_size), -(-largest // tile) * tile)
    reducer = _take_reducer(len(keys), chunk, torch.from_numpy(log_unigram), device)
    try:
        _run_batches(result, batches, docs, offsets, device, runners, reducer, chunk, progress, n_positions)
    finally:
        _return_reducer(reducer)
    return result


def _run_batches(result, batches, docs, offsets, device, runners, reducer, chunk, progress, n_positions):
    tile = _head_tile(device)
    keys = [r.key for r in runners]
    index = {k: i for i, k in enumerate(keys)}
    pair_idx = [(index[a], index[b]) for a, b in result.pair_kl]
    pair_keys = list(result.pair_kl)
    head_buffers: dict = {}
    done = 0
    with torch.inference_mode():
        for batch in batches:
            ids, mask, rows, cols, targets, out_rows = _pack(batch, docs, offsets, device)
            forwarded = []
            for r in runners:
                forwarded.append(r.forward(ids, mask, rows, cols))
                result.forward_passes += 1
            n = rows.shape[0]
            stats = torch.empty(len(keys), n, len(STAT_COLUMNS), dtype=torch.float64, device=device)
            pkl = torch.empty(len(pair_idx), n, 2, dtype=torch.float64, device=device)
            for lo in range(0, n, chunk):
                hi = min(lo + chunk, n)
                for k, r in enumerate(runners):
                    for t in range(lo, hi, tile):  # tiles aligned to the batch start, whatever the chunk
                        u = min(t + tile, hi)
                        logits = r.logits(forwarded[k], t, u, tile, head_buffers)
                        if not reducer.load(k, logits, targets[t:u], at=t - lo):
                            raise ConvdivError(f"model {r.key!r} produced NaN or infinite logits")
                chunk_stats, kl = reducer.finish(pair_idx)
                for k, finite in enumerate(reducer.finite_models(chunk_stats)):
                    if not finite:
                        raise ConvdivError(f"model {runners[k].key!r} produced NaN or infinite logits")
                stats[:, lo:hi] = chunk_stats
                pkl[:, lo:hi] = kl
            stats_np = stats.to(torch.float32).cpu().numpy()
            pkl_np = pkl.to(torch.float32).cpu().numpy()
            for k, key in enumerate(keys):
                result.stats[key][out_rows] = stats_np[k]
            for j, p in enumerate(pair_keys):
                result.pair_kl[p][out_rows] = pkl_np[j]
            done += n
            if progress is not None:
                progress(done, n_positions)


# One reducer kept between calls: an ingest calls extract_group once per (size, step) group with the same
# shapes, and allocating + first-touching ~0.6 GB of buffers took ~14% of a CPU call. Taken out while in use,
# so concurrent calls never share one.
_REDUCER_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _take_reducer(n_models: int, chunk: int, log_unigram: torch.Tensor, device: torch.device) -> ChunkReducer:
    key = (n_models, chunk, int(log_unigram.shape[0]), str(device))
    with _CACHE_LOCK:
        reducer = _REDUCER_CACHE.pop(key, None)
        if reducer is None:
            _REDUCER_CACHE.clear()  # at most one set of buffers held
    if reducer is None:
        return ChunkReducer(n_models, chunk, log_unigram, device)
    reducer.set_unigram(log_unigram)
    return reducer


def _return_reducer(reducer: ChunkReducer) -> None:
    key = (reducer.n_models, reducer.chunk, reducer.vocab_size, str(reducer.device))
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
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return (
        to(ids),
        to(mask),
        to(np.concatenate(rows)),
        to(np.concatenate(cols)),
        to(np.concatenate(targets)),
        np.concatenate(out_rows),
    )
