"""extract_group on tiny random GPT-NeoX models against a float64 oracle that runs each document separately."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from convdiv.errors import ConvdivError
from convdiv.extract import STAT_COLUMNS, ExtractResult, extract_group

V = 300  # |V| = len(tokenizer); the models' logits are padded to 384 like Pythia's 50277 -> 50304
PADDED = 384
MAX_POS = 24
LENGTHS = [9, 0, 1, 2, 37, 16, 17, 60, 5]  # empty and one-token documents have no positions


def make_model(seed: int, init: float) -> GPTNeoXForCausalLM:
    config = GPTNeoXConfig(
        vocab_size=PADDED,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_POS,
        initializer_range=init,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(config).eval()


@pytest.fixture(scope="module")
def near_uniform():
    """Step-0-like checkpoints: tiny init, KLs ~1e-6."""
    return {("s", k): make_model(k, 0.0005) for k in (1, 2, 3)}


@pytest.fixture(scope="module")
def peaked():
    return {("s", k): make_model(10 + k, 0.3) for k in (1, 2, 3)}


@pytest.fixture(scope="module")
def documents():
    rng = np.random.default_rng(0)
    return [rng.integers(0, V, n).astype(np.int64) for n in LENGTHS]


@pytest.fixture(scope="module")
def log_unigram():
    q = 1.0 / np.arange(1, V + 1) ** 1.2 + 1e-4
    return np.log(q / q.sum())


def window_start(x: int, context: int) -> int:
    """The documented rule, restated: x is scored by the earliest window (stride context // 2) whose inputs hold x
    (its target x + 1 may lie just past the window)."""
    stride = context // 2
    return max(0, -(-(x + 1 - context) // stride)) * stride


def oracle_log_probs(model, documents, context, full_width=False):
    """float64 log-probs (N, V) in (document, x) order: each document alone, unpadded, batch of one.

    full_width: over all the model's PADDED output columns (N, PADDED) instead of the renormalised real vocabulary.
    """
    model64 = copy.deepcopy(model).to(torch.float64)
    width = PADDED if full_width else V
    out = []
    with torch.no_grad():
        for doc in documents:
            starts = {}
            for x in range(len(doc) - 1):
                starts.setdefault(window_start(x, context), []).append(x)
            for start, xs in starts.items():
                ids = torch.from_numpy(doc[start : min(start + context, len(doc) - 1)]).view(1, -1)
                logits = model64(input_ids=ids).logits[0].numpy()
                for x in xs:
                    row = logits[x - start, :width]
                    out.append(row - row.max() - np.log(np.exp(row - row.max()).sum()))
    return np.array(out)


def oracle(models, documents, log_unigram, pairs, context):
    """float64 statistics: ce over the full (padded) output width, everything else over the real vocabulary."""
    lp = {k: oracle_log_probs(m, documents, context) for k, m in models.items()}
    targets = np.concatenate([d[1:] for d in documents if len(d) > 1])
    stats = {}
    for k, l in lp.items():
        p = np.exp(l)
        entropy = -(p * l).sum(-1)
        full = oracle_log_probs(models[k], documents, context, full_width=True)
        stats[k] = np.stack(
            [
                -full[np.arange(len(targets)), targets],
                entropy,
                np.log(V) - entropy,
                (p * (l - log_unigram)).sum(-1),
            ],
            axis=1,
        )
    pair_kl = {}
    for a, b in pairs:
        pa, pb = np.exp(lp[a]), np.exp(lp[b])
        pair_kl[(a, b)] = np.stack([(pa * (lp[a] - lp[b])).sum(-1), (pb * (lp[b] - lp[a])).sum(-1)], axis=1)
    return stats, pair_kl


def all_pairs(keys):
    keys = list(keys)
    return [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]


def assert_matches(result: ExtractResult, want_stats, want_pairs, atol_big, atol_kl):
    for k, want in want_stats.items():
        got = result.stats[k]
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got[:, :2], want[:, :2], rtol=0, atol=atol_big)
        np.testing.assert_allclose(got[:, 2:], want[:, 2:], rtol=1e-6, atol=atol_kl)
    for p, want in want_pairs.items():
        got = result.pair_kl[p]
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol_kl)


@pytest.mark.parametrize("context", [16, None])
def test_near_uniform_models_match_float64_oracle(near_uniform, documents, log_unigram, context):
    pairs = all_pairs(near_uniform)
    result = extract_group(near_uniform, documents, log_unigram, V, pairs, batch_tokens=64, context_length=context)
    n = sum(max(len(d) - 1, 0) for d in documents)
    assert all(s.shape == (n, 4) for s in result.stats.values())
    want_stats, want_pairs = oracle(near_uniform, documents, log_unigram, pairs, context or MAX_POS)
    kl = np.concatenate([w.ravel() for w in want_pairs.values()])
    assert kl.max() < 1e-4 and np.median(kl) < 1e-5  # the uniform phase, where float32 cancellation bites
    assert_matches(result, want_stats, want_pairs, atol_big=1e-6, atol_kl=1e-7)


def test_peaked_models_match_float64_oracle_with_windows(peaked, documents, log_unigram):
    pairs = all_pairs(peaked) + [(("s", 3), ("s", 1))]
    result = extract_group(peaked, documents, log_unigram, V, pairs, batch_tokens=100, context_length=16)
    want_stats, want_pairs = oracle(peaked, documents, log_unigram, pairs, 16)
    assert np.median(np.concatenate([w.ravel() for w in want_pairs.values()])) > 0.05
    assert_matches(result, want_stats, want_pairs, atol_big=1e-5, atol_kl=1e-6)
    np.testing.assert_array_equal(result.pair_kl[(("s", 3), ("s", 1))], result.pair_kl[(("s", 1), ("s", 3))][:, ::-1])


def test_ce_is_the_full_width_surprisal_while_entropy_and_kls_renormalise(peaked, documents, log_unigram):
    """ce = -log softmax over ALL PADDED output columns (the study's surprisal, the training loss); entropy and the
    KLs over the renormalised |V| = len(tokenizer) columns. Padded columns get real mass here, so the two
    conventions differ by far more than the tolerance."""
    model = copy.deepcopy(peaked[("s", 1)])
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head[V:] = head[: PADDED - V] * 1.5  # padded logits with real probability mass
    result = extract_group({"m": model}, documents, log_unigram, V, [], context_length=16)
    targets = np.concatenate([d[1:] for d in documents if len(d) > 1])
    full = oracle_log_probs(model, documents, 16, full_width=True)
    real = oracle_log_probs(model, documents, 16)
    assert full.shape[1] == PADDED > V == real.shape[1]
    ce_full = -full[np.arange(len(targets)), targets]
    ce_real = -real[np.arange(len(targets)), targets]
    assert (ce_full - ce_real).min() > 0.05  # the padded mass is really there
    got = result.stats["m"]
    np.testing.assert_allclose(got[:, 0], ce_full, rtol=0, atol=1e-5)
    entropy = -(np.exp(real) * real).sum(-1)
    np.testing.assert_allclose(got[:, 1], entropy, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got[:, 2], np.log(V) - entropy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 3], (np.exp(real) * (real - log_unigram)).sum(-1), rtol=1e-5, atol=1e-6)


def test_windows_give_long_context_not_restarts(peaked, documents, log_unigram):
    """A 60-token document in 16-token windows differs from scoring it in disjoint 16-token blocks."""
    doc = [documents[7]]
    model = {"m": peaked[("s", 1)]}
    windowed = extract_group(model, doc, log_unigram, V, [], context_length=16).stats["m"][:, 0]
    blocks = np.concatenate(
        [extract_group(model, [doc[0][i : i + 16]], log_unigram, V, []).stats["m"][:, 0] for i in range(0, 60, 15)]
    )
    assert windowed.shape == blocks.shape == (59,)
    np.testing.assert_allclose(windowed[:15], blocks[:15], atol=1e-5)  # the first window is the same
    assert np.abs(windowed[15:] - blocks[15:]).max() > 1e-3


def test_packing_does_not_change_results_and_counts_forward_passes(peaked, documents, log_unigram):
    pairs = all_pairs(peaked)
    packed = extract_group(peaked, documents, log_unigram, V, pairs, batch_tokens=10_000, context_length=16)
    alone = extract_group(peaked, documents, log_unigram, V, pairs, batch_tokens=1, context_length=16)
    assert packed.forward_passes == len(peaked)  # every model once for the single batch
    n_windows = sum(1 + max(0, -(-(n - 1 - 16) // 8)) for n in LENGTHS if n >= 2)
    assert alone.forward_passes == n_windows * len(peaked)
    for k in peaked:
        np.testing.assert_allclose(packed.stats[k], alone.stats[k], rtol=1e-5, atol=1e-5)
    for p in pairs:
        np.testing.assert_allclose(packed.pair_kl[p], alone.pair_kl[p], rtol=1e-4, atol=1e-6)


def test_reduction_chunks_smaller_than_a_batch_change_nothing(peaked, documents, log_unigram, monkeypatch):
    from convdiv.extract import engine

    pairs = all_pairs(peaked)
    whole = extract_group(peaked, documents, log_unigram, V, pairs, context_length=16)
    # a memory budget of 64 positions: several reduction chunks per batch, the last one zero-padded
    monkeypatch.setattr(engine, "_BUFFER_BYTES", {"cpu": 64 * len(peaked) * PADDED * 4, "cuda": 1})
    engine.release_buffers()
    assert engine._chunk_size(torch.device("cpu"), len(peaked), PADDED, 10_000) == 64
    chunked = extract_group(peaked, documents, log_unigram, V, pairs, context_length=16)
    engine.release_buffers()
    assert chunked.forward_passes == whole.forward_passes == len(peaked)
    for k in peaked:
        np.testing.assert_array_equal(chunked.stats[k], whole.stats[k])
    for p in pairs:
        np.testing.assert_array_equal(chunked.pair_kl[p], whole.pair_kl[p])


def test_full_logits_path_for_other_architectures(peaked, documents, log_unigram, monkeypatch):
    """Architectures not known to be head(base(x)) take the plain forward; results are the same."""
    from convdiv.extract import engine

    pairs = all_pairs(peaked)
    hidden = extract_group(peaked, documents, log_unigram, V, pairs, context_length=16)
    monkeypatch.setattr(engine, "_HEAD_ON_HIDDEN", set())
    full = extract_group(peaked, documents, log_unigram, V, pairs, context_length=16)
    for k in peaked:
        np.testing.assert_allclose(full.stats[k], hidden.stats[k], rtol=1e-5, atol=1e-6)
    for p in pairs:
        np.testing.assert_allclose(full.pair_kl[p], hidden.pair_kl[p], rtol=1e-4, atol=1e-6)


def test_cuda_kernel_path_agrees_with_the_cpu_kernel(peaked, documents, log_unigram, monkeypatch):
    """The CUDA path (head in fixed tiles, kernels.ChunkReducer), run here on CPU, against the fused CPU path."""
    from convdiv.extract import engine

    pairs = all_pairs(peaked)
    fused = extract_group(peaked, documents, log_unigram, V, pairs, batch_tokens=100, context_length=16)
    monkeypatch.setattr(engine, "_KERNELS", {False: "tiles", True: "tiles"})
    monkeypatch.setattr(engine, "_HEAD_TILE_CUDA", 32)  # several tiles and chunks per batch
    monkeypatch.setattr(engine, "_CUDA_CHUNK", 64)
    tiles = extract_group(peaked, documents, log_unigram, V, pairs, batch_tokens=100, context_length=16)
    engine.release_buffers()
    for k in peaked:
        np.testing.assert_allclose(tiles.stats[k], fused.stats[k], rtol=1e-6, atol=1e-6)
    for p in pairs:
        np.testing.assert_allclose(tiles.pair_kl[p], fused.pair_kl[p], rtol=1e-5, atol=1e-7)


def test_bfloat16_forward_reduces_in_float32(peaked, documents, log_unigram):
    pairs = all_pairs(peaked)
    bf16 = {k: copy.deepcopy(m) for k, m in peaked.items()}
    result = extract_group(bf16, documents, log_unigram, V, pairs, dtype=torch.bfloat16, context_length=16)
    assert next(bf16[("s", 1)].parameters()).dtype == torch.bfloat16
    want_stats, want_pairs = oracle(peaked, documents, log_unigram, pairs, 16)
    for k in peaked:
        got = result.stats[k]
        assert got.dtype == np.float32 and np.isfinite(got).all()
        np.testing.assert_allclose(got, want_stats[k], rtol=0.05, atol=0.05)
        # entropy + kl_uniform = log|V| holds to float32 precision whatever the forward's precision
        np.testing.assert_allclose(got[:, 1] + got[:, 2], np.log(V), atol=2e-6)
    for p in pairs:
        assert (result.pair_kl[p] >= 0).all()
        np.testing.assert_allclose(result.pair_kl[p], want_pairs[p], rtol=0.1, atol=0.02)


def test_kl_of_a_model_with_itself_is_zero(peaked, documents, log_unigram):
    m = peaked[("s", 2)]
    result = extract_group({"a": m, "b": m}, documents, log_unigram, V, [("a", "b")], context_length=16)
    assert (result.pair_kl[("a", "b")] == 0).all()
    np.testing.assert_array_equal(result.stats["a"], result.stats["b"])


def test_progress_reports_positions(near_uniform, documents, log_unigram):
    seen = []
    extract_group(near_uniform, documents, log_unigram, V, [], batch_tokens=32, progress=lambda *a: seen.append(a))
    n = sum(max(len(d) - 1, 0) for d in documents)
    assert len(seen) > 1 and seen[-1] == (n, n)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))


def test_nan_logits_name_the_model(peaked, documents, log_unigram):
    broken = copy.deepcopy(peaked[("s", 2)])
    with torch.no_grad():
        broken.get_output_embeddings().weight[7, 3] = float("nan")
    models = {("s", 1): peaked[("s", 1)], ("s", 2): broken}
    with pytest.raises(ConvdivError, match=r"\('s', 2\).*NaN"):
        extract_group(models, documents, log_unigram, V, [(("s", 1), ("s", 2))], context_length=16)
    # ce is over the full output width: a NaN in a padded logit column is as fatal as one in the real vocabulary
    padded_only = copy.deepcopy(peaked[("s", 2)])
    with torch.no_grad():
        padded_only.get_output_embeddings().weight[V + 5] = float("nan")
    with pytest.raises(ConvdivError, match="'m'.*NaN"):
        extract_group({"m": padded_only}, documents, log_unigram, V, [], context_length=16)


def test_bad_inputs_are_user_errors(peaked, documents, log_unigram):
    with pytest.raises(ConvdivError, match="'nope'"):
        extract_group(peaked, documents, log_unigram, V, [(("s", 1), "nope")])
    with pytest.raises(ConvdivError, match="log_unigram"):
        extract_group(peaked, documents, log_unigram[:-1], V, [])
    with pytest.raises(ConvdivError, match="document 1"):
        extract_group(peaked, [documents[0], np.array([1, V + 2])], log_unigram, V, [])
    with pytest.raises(ConvdivError, match="context_length 25"):
        extract_group(peaked, documents, log_unigram, V, [], context_length=MAX_POS + 1)
    with pytest.raises(ConvdivError, match="fewer than"):
        extract_group(peaked, documents, np.zeros(PADDED + 1), PADDED + 1, [])


def test_column_order():
    assert STAT_COLUMNS == ("ce", "entropy", "kl_uniform", "kl_unigram")
