"""Same inputs, same bits: extract_group's per-position results do not depend on scheduling.

A unit's values must be identical whether its checkpoints were computed in a group of 30 models (9 units of 3
seeds and their previous steps) or alone, with any reduction chunk and any set of requested pairs, so that "a
re-run equals the uninterrupted run" can be tested with exact equality. Before the reductions were made
fixed-order, a batched-matmul Gram over 30 models moved entropy and KL by up to 1e-6 against 2 models. Every
comparison here is bitwise; a float64 oracle checks that the values are also right.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from convdiv.extract import engine, extract_group
from convdiv.extract.kernels import ChunkReducer, tree_sum_

V = 2100  # three vocabulary blocks of 1024: the float32-within-block, float64-across-blocks path
PADDED = 2176  # the models' output width > len(tokenizer), as Pythia's 50304 > 50277
CONTEXT = 32
SEEDS = (1, 2, 3)
STEPS = tuple(range(10))  # 9 units (steps 1..9), each needing its 3 seeds and the previous step's 3


def make_model(seed: int, step: int) -> GPTNeoXForCausalLM:
    config = GPTNeoXConfig(
        vocab_size=PADDED,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=CONTEXT,
        initializer_range=0.02 + 0.05 * step,
        tie_word_embeddings=False,
    )
    torch.manual_seed(1000 * seed + step)
    return GPTNeoXForCausalLM(config).eval()


@pytest.fixture(scope="module")
def models():
    return {(s, t): make_model(s, t) for s in SEEDS for t in STEPS}


@pytest.fixture(scope="module")
def documents():
    rng = np.random.default_rng(11)
    return [rng.integers(0, V, n).astype(np.int64) for n in (70, 3, 41, 96, 17)]


@pytest.fixture(scope="module")
def log_unigram():
    q = 1.0 / np.arange(1, V + 1) ** 1.1 + 1e-5
    return np.log(q / q.sum())


def unit_pairs(step):
    seeds = [((a, step), (b, step)) for i, a in enumerate(SEEDS) for b in SEEDS[i + 1 :]]
    return seeds + [((s, step - 1), (s, step)) for s in SEEDS]


def unit_models(models, step):
    return {k: models[k] for k in [(s, step) for s in SEEDS] + [(s, step - 1) for s in SEEDS]}


@pytest.fixture(scope="module")
def grouped(models, documents, log_unigram):
    """All 9 units in one call: 30 models, 54 pairs (the grouped ingest)."""
    pairs = [p for t in STEPS[1:] for p in unit_pairs(t)]
    return extract_group(models, documents, log_unigram, V, pairs, context_length=CONTEXT, batch_tokens=256)


def assert_same_bits(a, b, keys, pairs):
    for k in keys:
        np.testing.assert_array_equal(a.stats[k], b.stats[k])
    for p in pairs:
        np.testing.assert_array_equal(a.pair_kl[p], b.pair_kl[p])


@pytest.mark.parametrize("step", [1, 5, 9])
def test_one_unit_alone_equals_the_grouped_run(models, documents, log_unigram, grouped, step):
    alone = extract_group(
        unit_models(models, step), documents, log_unigram, V, unit_pairs(step), context_length=CONTEXT, batch_tokens=256
    )
    assert_same_bits(alone, grouped, [(s, step) for s in SEEDS], unit_pairs(step))


@pytest.mark.parametrize("align,budget", [(64, None), (64, 1 << 20), (16, 1 << 18), (256, None)])
def test_reduction_chunks_and_memory_budget_change_no_bit(models, documents, log_unigram, monkeypatch, align, budget):
    """The chunk follows the memory budget and the number of models, the head's row padding its alignment; a
    position's bits must not."""
    step = 4
    reference = extract_group(
        unit_models(models, step), documents, log_unigram, V, unit_pairs(step), context_length=CONTEXT, batch_tokens=256
    )
    monkeypatch.setattr(engine, "_HEAD_ALIGN", align)
    if budget:
        monkeypatch.setattr(engine, "_BUFFER_BYTES", {"cpu": budget, "cuda": budget})
    engine.release_buffers()
    used = engine._chunk_size(torch.device("cpu"), 6, PADDED, 256)
    assert used % align == 0 and (budget is None or used < 256)
    other = extract_group(
        unit_models(models, step), documents, log_unigram, V, unit_pairs(step), context_length=CONTEXT, batch_tokens=256
    )
    engine.release_buffers()
    assert_same_bits(other, reference, [(s, step) for s in SEEDS], unit_pairs(step))


@pytest.mark.parametrize("threads", [1, 3])
def test_thread_count_changes_no_bit(models, documents, log_unigram, threads):
    """The forward, the head (run by `threads` workers) and the reductions: the same bits with 1, 2 or 3 threads."""
    step = 2
    args = (unit_models(models, step), documents, log_unigram, V, unit_pairs(step))
    before = torch.get_num_threads()
    reference = extract_group(*args, context_length=CONTEXT, batch_tokens=256)
    torch.set_num_threads(threads)
    try:
        other = extract_group(*args, context_length=CONTEXT, batch_tokens=256)
    finally:
        torch.set_num_threads(before)
    assert before == 2 or threads != 1  # the reference ran with another count
    assert_same_bits(other, reference, [(s, step) for s in SEEDS], unit_pairs(step))


def test_requested_pairs_and_model_order_change_no_bit(models, documents, log_unigram):
    step = 7
    keys = list(unit_models(models, step))
    base = extract_group(
        unit_models(models, step), documents, log_unigram, V, unit_pairs(step), context_length=CONTEXT, batch_tokens=256
    )
    shuffled = {k: models[k] for k in reversed(keys)}
    one_pair = [unit_pairs(step)[1]]
    other = extract_group(shuffled, documents, log_unigram, V, one_pair, context_length=CONTEXT, batch_tokens=256)
    assert_same_bits(other, base, keys, one_pair)


def oracle(model, documents, log_unigram):
    """float64, each document alone: ce over the full output width, the rest over the renormalised |V|."""
    import copy

    m64 = copy.deepcopy(model).to(torch.float64)
    rows, full_rows = [], []
    with torch.no_grad():
        for doc in documents:
            if len(doc) < 2:
                continue
            assert len(doc) <= CONTEXT * 4
            for x in range(len(doc) - 1):
                # windows.py's rule, restated: the earliest window (stride CONTEXT // 2) whose inputs hold x
                start = max(0, -(-(x + 1 - CONTEXT) // (CONTEXT // 2))) * (CONTEXT // 2)
                ids = torch.from_numpy(doc[start : min(start + CONTEXT, len(doc) - 1)]).view(1, -1)
                logits = m64(input_ids=ids).logits[0, x - start]
                rows.append(torch.log_softmax(logits[:V], -1).numpy())
                full_rows.append(torch.log_softmax(logits, -1).numpy())
    lp, full = np.array(rows), np.array(full_rows)
    targets = np.concatenate([d[1:] for d in documents if len(d) > 1])
    p = np.exp(lp)
    entropy = -(p * lp).sum(-1)
    stats = np.stack(
        [-full[np.arange(len(targets)), targets], entropy, np.log(V) - entropy, (p * (lp - log_unigram)).sum(-1)],
        axis=1,
    )
    return stats, lp


def test_grouped_values_match_the_float64_oracle(models, documents, log_unigram, grouped):
    step = 9
    want = {s: oracle(models[(s, step)], documents, log_unigram) for s in SEEDS}
    for s in SEEDS:
        got = grouped.stats[(s, step)]
        np.testing.assert_allclose(got[:, :2], want[s][0][:, :2], rtol=1e-6, atol=1e-6)  # float32 forward
        np.testing.assert_allclose(got[:, 2:], want[s][0][:, 2:], rtol=2e-6, atol=1e-7)
    (a, b) = unit_pairs(step)[0]
    la, lb = want[a[0]][1], want[b[0]][1]
    kl_ab = (np.exp(la) * (la - lb)).sum(-1)
    np.testing.assert_allclose(grouped.pair_kl[(a, b)][:, 0], kl_ab, rtol=2e-6, atol=1e-7)


def test_reducer_row_results_do_not_depend_on_neighbours_or_offsets():
    """The kernel alone: a row's stats and pair KLs are the same bits alone, at any offset, beside any rows."""
    rng = np.random.default_rng(3)
    log_q = torch.from_numpy(np.log(np.full(V, 1.0 / V)))
    la, lb, lc = (torch.from_numpy((rng.standard_normal((40, PADDED)) * s).astype(np.float32)) for s in (1, 2, 3))
    targets = torch.from_numpy(rng.integers(0, V, 40))

    def run(n_models, chunk, at, rows):
        red = ChunkReducer(n_models, chunk, log_q)
        logits = [la, lb, lc][:n_models]
        for k, x in enumerate(logits):
            assert red.load(k, x[rows], targets[rows], at=at)
        if at:  # fill the rows before `at` with other positions
            for k, x in enumerate(logits):
                assert red.load(k, x[:at].flip(0), targets[:at], at=0)
        stats, kl = red.finish([(0, 1)])
        return stats[:2, at:], kl[:, at:]

    base_stats, base_kl = run(2, 40, 0, slice(0, 40))
    for n_models, chunk, at, rows in [(3, 64, 0, slice(0, 40)), (2, 48, 7, slice(0, 40)), (3, 13, 0, slice(5, 18))]:
        stats, kl = run(n_models, chunk, at, rows)
        assert torch.equal(stats, base_stats[:, rows]) and torch.equal(kl, base_kl[:, rows])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1024, 1025, 50277])
def test_tree_sum_order_depends_only_on_the_length(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32) * np.exp(rng.uniform(-8, 8, n)).astype(np.float32)
    alone = tree_sum_(torch.from_numpy(x.copy()), dim=0)
    batch = np.stack([rng.standard_normal(n).astype(np.float32), x, x[::-1].copy()], axis=1)
    in_batch = tree_sum_(torch.from_numpy(batch), dim=0)  # summed along axis 0, three columns at once
    assert in_batch[1].item() == alone.item()
    np.testing.assert_allclose(alone.item(), x.astype(np.float64).sum(), rtol=1e-5, atol=1e-5 * np.abs(x).sum())
