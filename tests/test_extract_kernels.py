"""Per-token reductions (convdiv.extract.kernels) and windowing (convdiv.extract.windows) against float64 oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convdiv.extract.fused import FusedReducer
from convdiv.extract.kernels import STAT_COLUMNS, ChunkReducer
from convdiv.extract.windows import document_offsets, plan_batches, plan_windows

V = 2000  # real vocabulary; logits are padded wider, as Pythia's 50277 -> 50304


def log_softmax64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def oracle_stats(logits: np.ndarray, targets: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """float64: ce, entropy, kl_uniform, kl_unigram straight from the definitions (ce over the full width)."""
    lp = log_softmax64(logits[:, :V])
    p = np.exp(lp)
    ce = -log_softmax64(logits)[np.arange(len(targets)), targets]
    entropy = -(p * lp).sum(-1)
    kl_uniform = (p * (lp - np.log(1.0 / V))).sum(-1)
    kl_unigram = (p * (lp - log_q)).sum(-1)
    return np.stack([ce, entropy, kl_uniform, kl_unigram], axis=1)


def oracle_kl(la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    pa, pb = np.exp(log_softmax64(la[:, :V])), np.exp(log_softmax64(lb[:, :V]))
    return (pa * (np.log(pa) - np.log(pb))).sum(-1)


def zipf_log_q() -> np.ndarray:
    q = 1.0 / np.arange(1, V + 1) ** 1.1
    return np.log(q / q.sum())


def make_logits(rng, n, sigma, shared=0.0):
    """Logits (n, V + 48) float32; `shared` mixes in a common component so pairs can be close."""
    base = rng.standard_normal((n, V + 48))
    return lambda: ((shared * base + rng.standard_normal((n, V + 48))) * sigma + 3.0).astype(np.float32)


def run_reducer(logit_list, targets, log_q, kind="torch"):
    """-> (stats (models, c, 4), kl (c, models, models)) as numpy float64; kl[:, a, b] = KL(p_a||p_b).

    kind: "torch" (kernels.ChunkReducer, the CUDA kernel) or "fused" (fused.FusedReducer, the CPU kernel).
    """
    n = len(logit_list)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    if kind == "fused":
        red = FusedReducer(n, len(targets), logit_list[0].shape[1], log_q)
        for k, lg in enumerate(logit_list):
            red.logits[k, : len(targets)] = lg
        stats, pair_kl = red.reduce(len(targets), np.asarray(targets), pairs)
    else:
        torch_red = ChunkReducer(n, len(targets), torch.from_numpy(log_q))
        for k, lg in enumerate(logit_list):
            assert torch_red.load(k, torch.from_numpy(lg), torch.from_numpy(np.asarray(targets)))
        stats_t, kl_t = torch_red.finish(pairs)
        assert stats_t.dtype == kl_t.dtype == torch.float64
        stats, pair_kl = stats_t.numpy(), kl_t.numpy()
    assert pair_kl.shape == (len(pairs), len(targets), 2)
    kl = np.zeros((len(targets), n, n))
    for j, (a, b) in enumerate(pairs):
        kl[:, a, b], kl[:, b, a] = pair_kl[j, :, 0], pair_kl[j, :, 1]
    return stats, kl


KINDS = ["torch", "fused"]


def kl_tolerance(expected):
    # the contract: absolute error <= 1e-7 where KL < 1e-4; elsewhere float32 output precision
    return np.where(expected < 1e-4, 1e-7, 1e-6 + 2e-6 * expected)


@pytest.mark.parametrize("sigma", [1e-3, 3e-2, 1.0, 6.0])
@pytest.mark.parametrize("kind", KINDS)
def test_stats_equal_float64_oracle(sigma, kind):
    rng = np.random.default_rng(1)
    logits = make_logits(rng, 64, sigma)()
    targets = rng.integers(0, V, 64)
    log_q = zipf_log_q()
    got = run_reducer([logits], targets, log_q, kind)[0][0]
    want = oracle_stats(logits, targets, log_q)
    assert got.shape == (64, len(STAT_COLUMNS))
    np.testing.assert_allclose(got[:, :2], want[:, :2], rtol=0, atol=1e-6)  # ce, entropy (~log V)
    for j in (2, 3):  # kl_uniform, kl_unigram
        assert (np.abs(got[:, j] - want[:, j]) <= kl_tolerance(want[:, j])).all(), STAT_COLUMNS[j]
    if sigma == 1e-3:
        assert want[:, 2].max() < 1e-5  # the near-uniform case really is one


@pytest.mark.parametrize("sigma,shared", [(1e-3, 0.0), (3e-2, 0.0), (3e-2, 5.0), (1.0, 0.0), (6.0, 3.0)])
@pytest.mark.parametrize("kind", KINDS)
def test_pair_kl_equals_float64_oracle_both_directions(sigma, shared, kind):
    rng = np.random.default_rng(2)
    gen = make_logits(rng, 48, sigma, shared)
    la, lb = gen(), gen()
    targets = rng.integers(0, V, 48)
    _, kl = run_reducer([la, lb], targets, zipf_log_q(), kind)
    for a, b in [(0, 1), (1, 0)]:
        want = oracle_kl([la, lb][a], [la, lb][b])
        assert (np.abs(kl[:, a, b] - want) <= kl_tolerance(want)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_near_uniform_kl_beats_float32_matmul_identity(kind):
    """The oracle tolerance is strict enough to reject the sum p log p - p . log q identity in float32."""
    rng = np.random.default_rng(3)
    gen = make_logits(rng, 64, 1e-3)
    la, lb = gen(), gen()
    want = oracle_kl(la, lb)
    assert want.max() < 1e-5
    lpa = torch.log_softmax(torch.from_numpy(la[:, :V]), -1)
    lpb = torch.log_softmax(torch.from_numpy(lb[:, :V]), -1)
    pa = lpa.exp()
    identity = ((pa * lpa).sum(-1) - pa @ lpb.T).diagonal().double().numpy()
    assert np.abs(identity - want).max() > 1e-7
    got = run_reducer([la, lb], rng.integers(0, V, 64), zipf_log_q(), kind)[1][:, 0, 1]
    assert np.abs(got - want).max() <= 1e-8


@pytest.mark.parametrize("kind", KINDS)
def test_kl_of_a_distribution_with_itself_is_zero_and_kl_is_nonnegative(kind):
    rng = np.random.default_rng(4)
    gen = make_logits(rng, 32, 0.5)
    la, lb = gen(), gen()
    kl = run_reducer([la, la.copy(), lb], rng.integers(0, V, 32), zipf_log_q(), kind)[1]
    assert (kl[:, 0, 1] == 0).all() and (kl[:, 1, 0] == 0).all()
    off_diagonal = kl[:, [0, 0, 1, 1, 2, 2], [2, 2, 2, 0, 0, 1]]
    assert (off_diagonal[:, [0, 2, 4, 5]] > 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_pair_kl_agrees_with_torch_distributions(kind):
    rng = np.random.default_rng(5)
    gen = make_logits(rng, 32, 2.0)
    la, lb = gen(), gen()
    kl = run_reducer([la, lb], rng.integers(0, V, 32), zipf_log_q(), kind)[1]
    got = np.stack([kl[:, 0, 1], kl[:, 1, 0]], axis=1)
    ca = torch.distributions.Categorical(logits=torch.from_numpy(la[:, :V]).double())
    cb = torch.distributions.Categorical(logits=torch.from_numpy(lb[:, :V]).double())
    np.testing.assert_allclose(got[:, 0], torch.distributions.kl_divergence(ca, cb).numpy(), rtol=1e-5)
    np.testing.assert_allclose(got[:, 1], torch.distributions.kl_divergence(cb, ca).numpy(), rtol=1e-5)


def test_bf16_logits_are_reduced_in_float32():
    rng = np.random.default_rng(6)
    logits = make_logits(rng, 16, 2.0)()
    bf = torch.from_numpy(logits).to(torch.bfloat16)
    targets = rng.integers(0, V, 16)
    red = ChunkReducer(1, 16, torch.from_numpy(zipf_log_q()))
    assert red.load(0, bf, torch.from_numpy(targets))
    got = red.finish([])[0][0].numpy()
    # exact reductions of the bf16-rounded logits: only the forward's precision is lost, not the reduction's
    want = oracle_stats(bf.float().numpy(), targets, zipf_log_q())
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_logits_are_detected(bad, kind):
    rng = np.random.default_rng(7)
    logits = make_logits(rng, 8, 1.0)()
    t = np.zeros(8, dtype=np.int64)

    def ok(x):
        if kind == "fused":
            red = FusedReducer(1, 8, x.shape[1], zipf_log_q())
            red.logits[0] = x
            return red.finite_models(red.reduce(8, t, [])[0]) == [True]
        torch_red = ChunkReducer(1, 8, torch.from_numpy(zipf_log_q()))
        loaded = torch_red.load(0, torch.from_numpy(x), torch.from_numpy(t))
        return loaded and torch_red.finite_models(torch_red.finish([])[0]) == [True]

    assert ok(logits)
    logits[5, 17] = bad
    assert not ok(logits)
    logits[5, 17] = 0.0
    # in the padded columns: not part of p, but part of ce's full-width log-partition, where -inf is a column of
    # probability 0 and NaN or +inf leave ce undefined
    logits[3, V + 10] = bad
    assert ok(logits) == (bad == -np.inf)


def first_window_start(x: int, context: int, stride: int) -> int:
    """Independent statement of the rule: x is scored by the earliest window k*stride whose inputs hold token x."""
    k = max(0, -(-(x + 1 - context) // stride))
    return k * stride


@pytest.mark.parametrize("context,stride", [(8, None), (8, 3), (5, 4), (2, 1)])
def test_windows_cover_each_position_once_with_long_context(context, stride):
    lengths = [0, 1, 2, 7, 8, 9, 30, 61]
    windows = plan_windows(lengths, context, stride)
    s = stride or context // 2
    seen = {}
    for w in windows:
        assert 1 <= w.n_tokens <= context and w.start % s == 0 and w.stop < lengths[w.doc]
        for x in range(w.score_from, w.stop):
            assert (w.doc, x) not in seen
            seen[(w.doc, x)] = w.start
    expected = {(d, x) for d, n in enumerate(lengths) for x in range(n - 1)}
    assert set(seen) == expected
    for (_d, x), start in seen.items():
        assert start == first_window_start(x, context, s)
        if x >= context:
            assert x - start + 1 >= context - s + 1  # tokens of context w(start..x), beyond the first window
        else:
            assert start == 0  # the first window: the whole history
    offs = document_offsets(lengths)
    assert list(offs) == list(np.concatenate([[0], np.cumsum(np.maximum(np.array(lengths) - 1, 0))[:-1]]))


def test_study_windows_give_the_study_context_lengths():
    """The study's sample: 4,663 tokens (4,662 positions), windows of 2,048 with stride 1,024."""
    windows = plan_windows([4663], 2048, 1024)
    assert [(w.start, w.stop, w.score_from) for w in windows] == [
        (0, 2048, 0),
        (1024, 3072, 2048),
        (2048, 4096, 3072),
        (3072, 4662, 4096),
    ]
    context = {x: x - w.start + 1 for w in windows for x in range(w.score_from, w.stop)}
    assert sorted(context) == list(range(4662))
    assert context[2047] == context[3071] == context[4095] == 2048
    assert min(c for x, c in context.items() if x >= 2048) == 1025


def test_batches_respect_the_token_budget_and_keep_every_window():
    windows = plan_windows([3, 50, 9, 20, 20, 4, 33], context_length=16)
    batches = plan_batches(windows, batch_tokens=40)
    flat = [w for b in batches for w in b]
    assert sorted(flat, key=lambda w: (w.doc, w.start)) == sorted(windows, key=lambda w: (w.doc, w.start))
    for b in batches:
        assert len(b) * max(w.n_tokens for w in b) <= 40
    one_long = plan_batches(plan_windows([31], 30), batch_tokens=10)
    assert len(one_long) == 1 and one_long[0][0].n_tokens == 30  # a window is never split


@pytest.mark.parametrize("kind", KINDS)
def test_near_uniform_precision_at_pythia_vocabulary(kind):
    """|V| = 50277 (blocked partition sums): KL to uniform and between seeds stay within 1e-7 near uniform."""
    big_v = 50277
    rng = np.random.default_rng(8)
    la, lb = ((rng.standard_normal((2, 6, big_v + 27)) * 2e-3) + 1.5).astype(np.float32)
    uniform = np.full(big_v, -np.log(big_v))
    if kind == "fused":
        red = FusedReducer(2, 6, big_v + 27, uniform)
        red.logits[0], red.logits[1] = la, lb
        got, kl = red.reduce(6, np.zeros(6, dtype=np.int64), [(0, 1)])
        got, kl = got[0], kl[0]
    else:
        torch_red = ChunkReducer(2, 6, torch.from_numpy(uniform))
        t = torch.zeros(6, dtype=torch.long)
        assert torch_red.load(0, torch.from_numpy(la), t) and torch_red.load(1, torch.from_numpy(lb), t)
        stats, kl_t = torch_red.finish([(0, 1)])
        got, kl = stats[0].numpy(), kl_t[0].numpy()
    lpa, lpb = log_softmax64(la[:, :big_v]), log_softmax64(lb[:, :big_v])
    pa, pb = np.exp(lpa), np.exp(lpb)
    kl_uniform = (pa * (lpa + np.log(big_v))).sum(-1)
    assert kl_uniform.max() < 1e-4
    assert np.abs(got[:, 2] - kl_uniform).max() <= 1e-7
    assert np.abs(got[:, 3] - kl_uniform).max() <= 1e-7  # the unigram here is uniform
    assert np.abs(kl[:, 0] - (pa * (lpa - lpb)).sum(-1)).max() <= 1e-7
    assert np.abs(kl[:, 1] - (pb * (lpb - lpa)).sum(-1)).max() <= 1e-7


def test_fused_exp_is_within_two_ulp_of_float64():
    """fused._exp32 (its own polynomial, the same bits on every CPU) against float64 exp on [-87, 0]."""
    from numba import njit

    from convdiv.extract import fused

    @njit
    def exp_all(y):
        out = np.empty_like(y)
        for i in range(y.size):
            out[i] = fused._exp32(y[i])
        return out

    rng = np.random.default_rng(9)
    y = np.concatenate([-rng.uniform(0, 87, 200_000), -rng.exponential(1e-3, 10_000), [0.0, -1e-30, -87.0]])
    y = y.astype(np.float32)
    want = np.exp(y.astype(np.float64))
    ulp = np.abs(exp_all(y) - want) / np.spacing(want.astype(np.float32)).astype(np.float64)
    assert ulp.max() <= 2.0
    assert exp_all(np.array([-1000.0, -np.inf], dtype=np.float32)).max() < 2e-38  # below -87: ~0, never NaN
