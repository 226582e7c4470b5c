"""Benchmark of the extract engine (convdiv.extract) against a plain Hugging Face forward, measured side by side.

    .venv/bin/python bench/extract.py                          # CPU, small config (hidden 64, Pythia's head)
    .venv/bin/python bench/extract.py --preset pythia-70m       # CPU, Pythia-70m config
    .venv/bin/python bench/extract.py --json                    # the headline ratios as one JSON object
    bench/gpu.py runs the same measures on a CUDA device (Pythia-410m config, bfloat16 and float32).

Everything runs in one process on the same models and documents, in interleaved rounds (HF forward, the engine's
forward path, the engine, the naive pipeline, then again), best of the rounds kept for each; every headline is a
ratio of two times measured in those rounds. Rows, each timed as a whole:
- HF forward (the plain baseline): each model's transformers forward over the engine's batches, full logits for
  every position (what a user writes first; it builds no statistic at all);
- engine's forward path: the engine's body forward and output head (on the scored positions, into its reused
  buffer, by its workers), no statistic; goal <= 1.05x the HF forward;
- engine: extract_group, every statistic (ce, entropy, KL to uniform and unigram) for every model and both KL
  directions of every seed pair; its overhead over the HF forward is the headline (goal <= 30% at the
  Pythia-70m config, <= 100% at the small config);
- naive: the reference study's pipeline: per checkpoint a forward per document, float32 log_softmax, fp16
  log-prob matrix written with np.save; per pair both matrices re-read and KL summed (goal: engine >= 10x).
Then the reduction kernels on one chunk, and the float32 accuracy of the engine's kernel against float64.
Models are random-init GPT-NeoX with Pythia's padded logit width (50304) and |V| = 50277.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from convdiv.extract import engine as engine_mod
from convdiv.extract.engine import extract_group
from convdiv.extract.fused import FusedReducer
from convdiv.extract.kernels import ChunkReducer
from convdiv.extract.windows import document_offsets, plan_batches, plan_windows

PYTHIA_VOCAB = 50277  # len(tokenizer) of the Pythia / PolyPythias tokenizer
PYTHIA_PADDED = 50304  # its logit width

PRESETS = {
    # name: (hidden, layers, heads, intermediate, max_positions)
    "tiny": (32, 1, 2, 64, 256),  # bench/gpu.py --smoke only
    "small": (64, 2, 2, 256, 512),
    "pythia-70m": (512, 6, 8, 2048, 2048),
    "pythia-410m": (1024, 24, 16, 4096, 2048),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_models(preset: str, seeds: int, device, dtype, vocab: int = PYTHIA_PADDED) -> dict:
    hidden, layers, heads, inter, max_pos = PRESETS[preset]
    models = {}
    for seed in range(1, seeds + 1):
        config = GPTNeoXConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=inter,
            max_position_embeddings=max_pos,
            rotary_pct=0.25,
            use_parallel_residual=True,
            tie_word_embeddings=False,
        )
        torch.manual_seed(seed)
        with torch.device(device):  # initialised where it runs (a 410m model initialises in seconds on a GPU)
            models[seed] = GPTNeoXForCausalLM(config).to(dtype=dtype).eval()
    return models


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device, fn):
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def hf_forward(models, docs, context, batch_tokens, device):
    """The plain baseline: transformers' forward (full logits for every position) over the engine's batches."""
    batches = plan_batches(plan_windows([len(d) for d in docs], context), batch_tokens)
    with torch.inference_mode():
        for batch in batches:
            width = max(w.n_tokens for w in batch)
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, w in enumerate(batch):
                ids[i, : w.n_tokens] = torch.from_numpy(docs[w.doc][w.start : w.stop])
                mask[i, : w.n_tokens] = 1
            ids, mask = ids.to(device), mask.to(device)
            for m in models.values():
                _ = m(input_ids=ids, attention_mask=mask, use_cache=False).logits


def engine_forward_path(models, docs, context, batch_tokens, device, vocab):
    """The engine's own forward work with no statistic: body per batch (with the engine's attention kernel), then
    the head per chunk, as the engine runs it (CPU: by its single-threaded workers into its reused logits buffer;
    CUDA: fixed tiles)."""
    from convdiv.extract.engine import _chunk_size, _pack, _Runner, _workers

    lengths = [len(d) for d in docs]
    batches = plan_batches(plan_windows(lengths, context), batch_tokens)
    offsets = document_offsets(lengths)
    runners = [_Runner(k, m, vocab) for k, m in models.items()]
    largest = max(sum(w.n_scored for w in b) for b in batches)
    buffers: dict = {}
    if device.type == "cuda":
        tile = engine_mod._HEAD_TILE_CUDA
    else:
        chunk = _chunk_size(device, len(runners), PYTHIA_PADDED, largest)
        buf = torch.empty(len(runners), chunk, PYTHIA_PADDED)
        pool = _workers(torch.get_num_threads())

    def rows_job(hidden, lo, r0, r1, rows):
        with torch.inference_mode():
            for k, r in enumerate(runners):
                r.logits_into(hidden[k], lo + r0, lo + min(r1, rows), buf[k, r0:r1])

    with torch.inference_mode(), engine_mod._fixed_order_attention(device):  # the engine's attention kernel
        for batch in batches:
            ids, mask, rows, cols, _, _ = _pack(batch, docs, offsets, device)
            hidden = [r.forward(ids, mask, rows, cols) for r in runners]
            n = rows.shape[0]
            if device.type == "cuda":
                for lo in range(0, n, tile):
                    for r, h in zip(runners, hidden):
                        r.logits_tile(h, lo, min(lo + tile, n), tile, buffers)
                continue
            for lo in range(0, n, chunk):
                m = min(chunk, n - lo)
                blocks = -(-m // engine_mod._HEAD_ALIGN)
                cuts = [engine_mod._HEAD_ALIGN * (blocks * i // pool.size) for i in range(pool.size + 1)]
                jobs = [pool.submit(rows_job, hidden, lo, a, b, m) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
                for j in jobs:
                    j.result()


def naive_pipeline(models, docs, log_unigram, pairs, device, workdir: Path, rows=256):
    """The study's pipeline: fp16 log-prob matrices on disk, re-read for every pair.
    Returns (pair KLs, seconds of the forward + write stage, seconds of the pair stage), each stage timed itself."""
    t0 = time.perf_counter()
    log_q = torch.from_numpy(log_unigram).float().to(device)
    with torch.inference_mode():
        for key, m in models.items():
            mats, stats = [], []
            for d in docs:  # one document per forward, whole document (docs fit the context here)
                ids = torch.from_numpy(d).view(1, -1).to(device)
                logits = m(input_ids=ids, use_cache=False).logits[0, :-1, :PYTHIA_VOCAB]
                lp = torch.log_softmax(logits.float(), dim=-1)
                p = lp.exp()
                target = torch.from_numpy(d[1:]).to(device)
                ent = -(p * lp).sum(-1)
                stats.append(
                    torch.stack(
                        [
                            -lp.gather(1, target.view(-1, 1))[:, 0],
                            ent,
                            math.log(PYTHIA_VOCAB) - ent,
                            (p * (lp - log_q)).sum(-1),
                        ],
                        1,
                    ).cpu()
                )
                mats.append(lp.to(torch.float16).cpu().numpy())
            np.save(workdir / f"logprobs_{key}.npy", np.concatenate(mats))
            del mats
        sync(device)
        t_write = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = {}
        for a, b in pairs:
            la = np.load(workdir / f"logprobs_{a}.npy")
            lb = np.load(workdir / f"logprobs_{b}.npy")
            kl = []
            for lo in range(0, la.shape[0], rows):
                xa = torch.from_numpy(la[lo : lo + rows]).to(device).float()
                xb = torch.from_numpy(lb[lo : lo + rows]).to(device).float()
                kl.append(torch.stack([(xa.exp() * (xa - xb)).sum(-1), (xb.exp() * (xb - xa)).sum(-1)], 1).cpu())
            out[(a, b)] = torch.cat(kl).numpy()
        sync(device)
    return out, t_write, time.perf_counter() - t1


def measure(models, docs, log_unigram, pairs, *, device, dtype, batch_tokens, context, rounds, naive_docs=None):
    """Interleaved rounds of HF forward, engine's forward path, engine (and naive on naive_docs): best times."""
    best = {"hf_forward": math.inf, "engine_forward_path": math.inf, "engine": math.inf, "naive": math.inf}
    naive_stages = (math.nan, math.nan)
    run_engine = lambda: extract_group(  # noqa: E731
        models, docs, log_unigram, PYTHIA_VOCAB, pairs, device=device, dtype=dtype, batch_tokens=batch_tokens
    )
    # warm-up (allocator, the kernel's compilation, the engine's kept buffers) on one batch's worth of documents
    warm = docs[: max(1, batch_tokens // len(docs[0]))]
    extract_group(models, warm, log_unigram, PYTHIA_VOCAB, pairs, device=device, dtype=dtype, batch_tokens=batch_tokens)
    hf_forward(models, warm, context, batch_tokens, device)
    engine_forward_path(models, warm, context, batch_tokens, device, PYTHIA_VOCAB)
    result = naive = None
    workdir = Path(tempfile.mkdtemp(prefix="convdiv-bench-"))
    try:
        for _ in range(rounds):
            t, _ = timed(device, lambda: hf_forward(models, docs, context, batch_tokens, device))
            best["hf_forward"] = min(best["hf_forward"], t)
            fwd_path = lambda: engine_forward_path(models, docs, context, batch_tokens, device, PYTHIA_VOCAB)  # noqa: E731
            best["engine_forward_path"] = min(best["engine_forward_path"], timed(device, fwd_path)[0])
            t, result = timed(device, run_engine)
            best["engine"] = min(best["engine"], t)
            if naive_docs is not None:
                t, (naive, write_s, pair_s) = timed(
                    device, lambda: naive_pipeline(models, naive_docs, log_unigram, pairs, device, workdir)
                )
                if t < best["naive"]:
                    best["naive"], naive_stages = t, (write_s, pair_s)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return best, naive_stages, result, naive


def headline(best, n_positions, naive_positions) -> dict:
    out = {
        "overhead_vs_hf_forward": best["engine"] / best["hf_forward"] - 1.0,
        "forward_path_vs_hf_forward": best["engine_forward_path"] / best["hf_forward"],
        "speedup_vs_naive": None,
        "seconds": {k: (v if math.isfinite(v) else None) for k, v in best.items()},
        "positions": n_positions,
    }
    if math.isfinite(best["naive"]):
        # per position: the naive pipeline runs on a capped corpus (its log-prob files grow with it)
        out["speedup_vs_naive"] = (n_positions / best["engine"]) / (naive_positions / best["naive"])
        # the same ratio for the HF forward alone: what an engine that costs exactly one plain forward would reach
        out["hf_forward_speedup_vs_naive"] = (n_positions / best["hf_forward"]) / (naive_positions / best["naive"])
        out["naive_positions"] = naive_positions
    return out


def print_speed(best, naive_stages, figures, n_pairs, rounds) -> None:
    n = figures["positions"]
    rate = lambda t: n / t  # noqa: E731
    print(f"\n## speed: {n} positions, best of {rounds} interleaved rounds (positions/s and seconds)")
    print(
        f"HF forward (plain baseline: full logits of every position, no statistic)   "
        f"{rate(best['hf_forward']):8.0f} pos/s  {best['hf_forward']:7.2f} s"
    )
    print(
        f"engine's forward path (body + head on scored positions, no statistic)       "
        f"{rate(best['engine_forward_path']):8.0f} pos/s  {best['engine_forward_path']:7.2f} s   "
        f"{figures['forward_path_vs_hf_forward']:.2f}x the HF forward's time (goal <= 1.05x)"
    )
    print(
        f"engine (every statistic, both KL directions of {n_pairs} pairs)                  "
        f"{rate(best['engine']):8.0f} pos/s  {best['engine']:7.2f} s   "
        f"adds {100 * figures['overhead_vs_hf_forward']:+.0f}% to the HF forward "
        f"(goal <= +30% at pythia-70m, <= +100% at small)"
    )
    if figures["speedup_vs_naive"] is not None:
        m = figures["naive_positions"]
        print(
            f"naive study pipeline (forward, log_softmax, fp16 to disk, re-read per pair) "
            f"{m / best['naive']:8.0f} pos/s  {best['naive']:7.2f} s   engine is "
            f"{figures['speedup_vs_naive']:.1f}x faster per position (goal >= 10x; {m} positions; "
            f"forward + write {naive_stages[0]:.1f} s, re-read + pair KL {naive_stages[1]:.1f} s, each timed)"
        )
        print(
            f"  (the plain HF forward alone, no statistic, is {figures['hf_forward_speedup_vs_naive']:.1f}x the naive "
            f"pipeline per position: no engine that runs the same forward can beat the naive pipeline by more)"
        )


# ----------------------------------------------------------------------------------------------- accuracy
def kl64(la, lb):
    la, lb = torch.log_softmax(la.double(), -1), torch.log_softmax(lb.double(), -1)
    return (la.exp() * (la - lb)).sum(-1)


def kl_identity32(la, lb):
    la, lb = torch.log_softmax(la.float(), -1), torch.log_softmax(lb.float(), -1)
    pa = la.exp()
    return (pa * la).sum(-1) - torch.bmm(pa.unsqueeze(1), lb.unsqueeze(2)).flatten()


def kl_direct_logprob32(la, lb):
    la, lb = torch.log_softmax(la.float(), -1), torch.log_softmax(lb.float(), -1)
    return (la.exp() * (la - lb)).sum(-1)


def kernel_pair(la, lb, device):
    """Both KL directions of the engine's kernel for this device (CPU: fused.py; CUDA: kernels.py)."""
    uniform = np.full(la.shape[1], -math.log(la.shape[1]))
    if device.type == "cpu":
        red = FusedReducer(2, la.shape[0], la.shape[1], uniform)
        red.logits[0], red.logits[1] = la.numpy(), lb.numpy()
        return torch.from_numpy(red.reduce(la.shape[0], np.zeros(la.shape[0], dtype=np.int64), [(0, 1)])[1][0, :, 0])
    red_t = ChunkReducer(2, la.shape[0], torch.from_numpy(uniform), la.device)
    targets = torch.zeros(la.shape[0], dtype=torch.long, device=la.device)
    red_t.load(0, la, targets)
    red_t.load(1, lb, targets)
    return red_t.finish([(0, 1)])[1][0, :, 0].cpu()


def accuracy_table(device, n=64):
    gen = torch.Generator(device="cpu").manual_seed(0)
    print("\n## float32 accuracy: max |KL - KL_float64| over", n, "positions, |V| =", PYTHIA_VOCAB)
    print(f"{'logit sd':>9} {'median KL':>10} {'engine':>10} {'matmul identity':>16} {'direct log-prob':>16}")
    for sd in (1e-3, 1e-2, 3e-2, 1.0, 4.0):
        la, lb = (torch.randn(2, n, PYTHIA_VOCAB, generator=gen) * sd + 2.0).float().to(device)
        ref = kl64(la, lb).cpu()
        fns = (lambda a, b: kernel_pair(a, b, device), kl_identity32, kl_direct_logprob32)
        errs = [(f(la, lb).double().cpu() - ref).abs().max().item() for f in fns]
        print(f"{sd:9.0e} {ref.median().item():10.2e} {errs[0]:10.1e} {errs[1]:16.1e} {errs[2]:16.1e}")


def model_accuracy(models, docs, log_unigram, pairs, context, device, dtype) -> dict:
    """The engine's per-token values for the first document against float64 reductions of the HF forward's
    float32 logits of that document (the same input, a batch of one): max relative error of ce, entropy and
    kl_unigram, max absolute error of the pair KLs (both directions)."""
    doc = docs[0][:context]
    n = len(doc) - 1
    result = extract_group(models, [doc], log_unigram, PYTHIA_VOCAB, pairs, device=device, dtype=dtype)
    lq = torch.from_numpy(log_unigram)
    lps = {}
    errs = {"ce": 0.0, "entropy": 0.0, "kl_unigram": 0.0, "pair_kl_abs": 0.0}
    with torch.inference_mode():
        for key, m in models.items():
            logits = m(input_ids=torch.from_numpy(doc[:n]).view(1, -1).to(device)).logits[0].double().cpu()
            lp = torch.log_softmax(logits[:, :PYTHIA_VOCAB], -1)
            ce = -torch.log_softmax(logits, -1).gather(1, torch.from_numpy(doc[1:]).view(-1, 1))[:, 0]
            p = lp.exp()
            want = {"ce": ce, "entropy": -(p * lp).sum(-1), "kl_unigram": (p * (lp - lq)).sum(-1)}
            got = result.stats[key].astype(np.float64)
            for j, name in ((0, "ce"), (1, "entropy"), (3, "kl_unigram")):
                w = want[name].numpy()
                errs[name] = max(errs[name], float((np.abs(got[:, j] - w) / np.abs(w)).max()))
            lps[key] = lp
    for a, b in pairs:
        for j, (x, y) in enumerate(((a, b), (b, a))):
            want_kl = (lps[x].exp() * (lps[x] - lps[y])).sum(-1).numpy()
            errs["pair_kl_abs"] = max(errs["pair_kl_abs"], float(np.abs(result.pair_kl[(a, b)][:, j] - want_kl).max()))
    return errs


def gram_kernel(logits, vocab, block=1024):
    """The engine's kernel before results version 3, kept as a speed baseline: per model shift + exp into a
    block-major (positions, blocks, model, BLOCK) layout, then one batched matmul Gram G[a, b] = sum_v e_a yh_b
    (float32 within a block, float64 across). Fast, but its results change in the last bits with the number of
    models (BLAS picks its blocking by shape)."""
    c, n = logits[0].shape[0], len(logits)
    nb = -(-vocab // block)
    full, tail = (nb - 1) * block, vocab - (nb - 1) * block
    y = torch.zeros(c, nb, n + 2, block, dtype=torch.float32, device=logits[0].device)
    e = torch.zeros(c, nb, n, block, dtype=torch.float32, device=logits[0].device)
    y[:, : nb - 1, n + 1] = 1.0  # ones: G[a, n + 1] = s_a (slot n, the centred unigram, is 0 here)
    y[:, nb - 1, n + 1, :tail] = 1.0
    for k, x in enumerate(logits):
        x = x[:, :vocab]
        m = x.amax(dim=1).view(c, 1, 1)
        torch.sub(x[:, :full].unflatten(1, (nb - 1, block)), m, out=y[:, : nb - 1, k])
        torch.sub(x[:, full:].unsqueeze(1), m, out=y[:, nb - 1 :, k, :tail])
        torch.exp(y[:, :, k], out=e[:, :, k])
        e[:, nb - 1, k, tail:] = 0.0
    tiles = torch.bmm(e.view(c * nb, n, block), y.view(c * nb, n + 2, block).transpose(1, 2))
    return tiles.view(c, nb, n, n + 2).sum(dim=1, dtype=torch.float64)


def kernel_timing(device, n_models, chunk, repeat=3):
    """One chunk of reductions for n_models models and all their pairs, by each kernel (best of `repeat`)."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    logits = [(torch.randn(chunk, PYTHIA_PADDED, generator=gen) * 2).to(device) for _ in range(n_models)]
    targets = torch.zeros(chunk, dtype=torch.long, device=device)
    uniform = np.full(PYTHIA_VOCAB, -math.log(PYTHIA_VOCAB))
    pairs = [(a, b) for a in range(n_models) for b in range(a + 1, n_models)]
    red = ChunkReducer(n_models, chunk, torch.from_numpy(uniform), device)

    def torch_reducer():
        for k, x in enumerate(logits):
            red.load(k, x, targets)
        red.finish(pairs)

    def logsoftmax_pairs():  # float32 log-probs, then a direct sum per pair (the textbook direct kernel)
        lps = [torch.log_softmax(x[:, :PYTHIA_VOCAB], -1) for x in logits]
        ps = [lp.exp() for lp in lps]
        for a, b in pairs:
            d = lps[a] - lps[b]
            (ps[a] * d).sum(-1), (ps[b] * d).sum(-1)

    variants = []
    if device.type == "cpu":
        fused = FusedReducer(n_models, chunk, PYTHIA_PADDED, uniform)
        for k, x in enumerate(logits):
            fused.logits[k] = x.numpy()
        workers = engine_mod._workers(torch.get_num_threads())
        stats = np.empty((n_models, chunk, 4))
        kl = np.empty((len(pairs), chunk, 2))

        def fused_kernel():
            cuts = np.linspace(0, chunk, workers.size + 1).astype(int)
            jobs = [workers.submit(fused.reduce_rows, a, b, np.zeros(chunk, dtype=np.int64), pairs, stats, kl)
                    for a, b in zip(cuts[:-1], cuts[1:]) if b > a]  # fmt: skip
            for j in jobs:
                j.result()

        variants.append(("fused (the engine's CPU kernel)", fused_kernel))
    variants += [
        ("torch fixed-order trees (kernels.py)", torch_reducer),
        ("batched Gram (before results v3)", lambda: gram_kernel(logits, PYTHIA_VOCAB)),
        ("log_softmax + per-pair direct", logsoftmax_pairs),
    ]
    print(f"\n## one reduction chunk: {n_models} models x {chunk} positions x |V| (all stats + {len(pairs)} pairs)")
    base = None
    for name, fn in variants:
        fn()
        t = min(timed(device, fn)[0] for _ in range(repeat))
        base = base or t
        print(f"{name:38s} {1000 * t:8.1f} ms   {t / base:5.2f}x the first")


# ----------------------------------------------------------------------------------------------- main
def make_corpus(tokens: int, doc_tokens: int, vocab: int = PYTHIA_VOCAB):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, vocab, doc_tokens).astype(np.int64) for _ in range(max(1, tokens // doc_tokens))]
    q = rng.zipf(1.3, 200_000)
    counts = np.bincount(q[q <= vocab] - 1, minlength=vocab) + 0.5  # add-alpha smoothed unigram
    return docs, np.log(counts / counts.sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=None, help="corpus tokens (default 1024 on CPU, 32768 on CUDA)")
    ap.add_argument("--doc-tokens", type=int, default=512, help="tokens per document")
    ap.add_argument("--batch-tokens", type=int, default=None)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--naive-tokens", type=int, default=8192, help="corpus tokens for the naive pipeline (disk!)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best kept)")
    ap.add_argument("--json", action="store_true", help="print only the headline figures, as one JSON object")
    ap.add_argument("--dry-run", action="store_true", help="check the arguments and the model config, run nothing")
    ap.add_argument("--kernels-only", action="store_true", help="only the one-chunk kernel timing and accuracy table")
    args = ap.parse_args(argv)
    if args.dry_run:
        model = build_models(args.preset, 1, torch.device("meta"), DTYPES[args.dtype])[1]
        n_params = sum(p.numel() for p in model.parameters())
        print(f"dry run: device={args.device} preset={args.preset} ({n_params / 1e6:.0f}M params) dtype={args.dtype}")
        return

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    if args.kernels_only:
        kernel_timing(device, args.seeds, 256 if device.type == "cpu" else engine_mod._CUDA_CHUNK)
        accuracy_table(device)
        return
    tokens = args.tokens or (32768 if device.type == "cuda" else 1024)
    batch_tokens = args.batch_tokens or (16384 if device.type == "cuda" else 2048)
    docs, log_unigram = make_corpus(tokens, args.doc_tokens)
    n_positions = sum(len(d) - 1 for d in docs)
    models = build_models(args.preset, args.seeds, device, dtype)
    keys = list(models)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    context = PRESETS[args.preset][4]
    load_before = load_text()
    naive_docs = None
    if not args.skip_naive:  # the naive pipeline writes positions x |V| x 2 bytes per checkpoint: capped
        naive_docs = docs[: max(1, min(len(docs), args.naive_tokens // args.doc_tokens))]
    best, naive_stages, result, naive = measure(
        models, docs, log_unigram, pairs, device=device, dtype=dtype, batch_tokens=batch_tokens, context=context,
        rounds=args.rounds, naive_docs=naive_docs,
    )  # fmt: skip
    naive_positions = sum(len(d) - 1 for d in naive_docs) if naive_docs else 0
    figures = headline(best, n_positions, naive_positions)
    figures["accuracy"] = model_accuracy(models, docs, log_unigram, pairs, context, device, dtype)
    figures.update(
        device=str(device), preset=args.preset, dtype=args.dtype, seeds=args.seeds, pairs=len(pairs),
        threads=torch.get_num_threads(), rounds=args.rounds, load_before=load_before, load_after=load_text(),
    )  # fmt: skip
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"# extract bench: device={device} ({torch.get_num_threads()} threads) preset={args.preset} "
        f"dtype={args.dtype} seeds={args.seeds} pairs={len(pairs)} positions={n_positions} "
        f"batch_tokens={batch_tokens} |V|={PYTHIA_VOCAB}\n# before: {load_before}\n# after:  {figures['load_after']}"
    )
    print_speed(best, naive_stages, figures, len(pairs), args.rounds)
    if naive is not None:
        diff = max(float(np.abs(naive[p] - result.pair_kl[p][:naive_positions]).max()) for p in pairs)
        print(f"max |pair KL engine - naive| = {diff:.1e} (the naive pipeline's fp16 log-probs)")
    acc = figures["accuracy"]
    print(
        f"\n## the engine's values against float64 reductions of the HF forward's logits (first document): max "
        f"relative error ce {acc['ce']:.1e}, entropy {acc['entropy']:.1e}, kl_unigram {acc['kl_unigram']:.1e}; "
        f"max absolute error of pair KL {acc['pair_kl_abs']:.1e}"
    )
    kernel_timing(device, args.seeds, 256 if device.type == "cpu" else engine_mod._CUDA_CHUNK)
    accuracy_table(device)


if __name__ == "__main__":
    main()
