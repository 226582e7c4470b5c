"""Benchmark of the extract engine (convdiv.extract): speed against forward passes and a naive pipeline, and
float32 accuracy against float64. Everything runs in one process on the same models and documents, and every
figure is printed as a ratio against a baseline measured in the same run.

    .venv/bin/python bench/extract.py                      # CPU, small-hidden models with Pythia's vocabulary
    .venv/bin/python bench/extract.py --device cuda --preset pythia-410m --dtype bfloat16

Rows:
- forward: each model's full forward pass (logits for every position) over the same batches, nothing else;
- engine's forward path: the same body forward per batch and output head per chunk (into a reused buffer) that
  the engine runs, with no reduction;
- engine: extract_group with every per-token statistic and both directions of every seed pair;
  "metrics add" = engine / forward - 1, against both forwards (goal <= 30% at scale);
- naive: the reference study's pipeline: per checkpoint forward, float32 log_softmax, fp16 log-prob matrix
  written with np.save; per pair both matrices re-read from disk and KL computed (goal: engine >= 10x faster).
- accuracy: max |error| against float64 of the engine's kernel, of the matmul identity sum p log p - p . log q,
  and of a direct sum over float32 log-probs, on near-uniform (step-0-like) to peaked logits.
Models are random-init GPT-NeoX with Pythia's padded logit width (50304) and |V| = 50277; the default preset has
a small hidden size so that, as at scale on a GPU, the time goes to the |V|-wide softmax and KL work.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from convdiv.extract import engine as engine_mod
from convdiv.extract.engine import extract_group
from convdiv.extract.kernels import ChunkReducer
from convdiv.extract.windows import plan_batches, plan_windows

PYTHIA_VOCAB = 50277  # len(tokenizer) of the Pythia / PolyPythias tokenizer
PYTHIA_PADDED = 50304  # its logit width

PRESETS = {
    # name: (hidden, layers, heads, intermediate, max_positions)
    "small": (64, 2, 2, 256, 512),
    "pythia-70m": (512, 6, 8, 2048, 2048),
    "pythia-410m": (1024, 24, 16, 4096, 2048),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_models(preset: str, seeds: int, device, dtype) -> dict:
    hidden, layers, heads, inter, max_pos = PRESETS[preset]
    models = {}
    for seed in range(1, seeds + 1):
        config = GPTNeoXConfig(
            vocab_size=PYTHIA_PADDED,
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
        models[seed] = GPTNeoXForCausalLM(config).to(device=device, dtype=dtype).eval()
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


def forward_only(models, docs, context, batch_tokens, device):
    """Full forward passes (all logits) over the engine's batches: the floor any pipeline pays."""
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


def engine_forward_path(models, docs, context, batch_tokens, device):
    """The engine's own forward work without any reduction: body per batch, head per chunk into a reused buffer."""
    from convdiv.extract.engine import _pack, _Runner
    from convdiv.extract.windows import document_offsets

    lengths = [len(d) for d in docs]
    batches = plan_batches(plan_windows(lengths, context), batch_tokens)
    offsets = document_offsets(lengths)
    runners = [_Runner(k, m, PYTHIA_VOCAB) for k, m in models.items()]
    tile = engine_mod._head_tile(device)
    buffers: dict = {}
    with torch.inference_mode():
        for batch in batches:
            ids, mask, rows, cols, _, _ = _pack(batch, docs, offsets, device)
            hidden = [r.forward(ids, mask, rows, cols) for r in runners]
            n = rows.shape[0]
            for lo in range(0, n, tile):
                for r, h in zip(runners, hidden):
                    r.logits(h, lo, min(lo + tile, n), tile, buffers)


def naive_pipeline(models, docs, log_unigram, pairs, device, workdir: Path, rows=256):
    """The study's pipeline: fp16 log-prob matrices on disk, re-read for every pair.
    Returns (pair KLs, seconds spent before the pair stage)."""
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
    return out, t_write


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


def kl_engine(la, lb):
    uniform = torch.full((la.shape[1],), -math.log(la.shape[1]), dtype=torch.float64)
    red = ChunkReducer(2, la.shape[0], uniform, la.device)
    targets = torch.zeros(la.shape[0], dtype=torch.long, device=la.device)
    red.load(0, la, targets)
    red.load(1, lb, targets)
    return red.finish([(0, 1)])[1][0, :, 0]


def accuracy_table(device, n=64):
    gen = torch.Generator(device="cpu").manual_seed(0)
    print("\n## float32 accuracy: max |KL - KL_float64| over", n, "positions, |V| =", PYTHIA_VOCAB)
    print(f"{'logit sd':>9} {'median KL':>10} {'engine':>10} {'matmul identity':>16} {'direct log-prob':>16}")
    for sd in (1e-3, 1e-2, 3e-2, 1.0, 4.0):
        la, lb = (torch.randn(2, n, PYTHIA_VOCAB, generator=gen) * sd + 2.0).float().to(device)
        ref = kl64(la, lb)
        errs = [(f(la, lb).double() - ref).abs().max().item() for f in (kl_engine, kl_identity32, kl_direct_logprob32)]
        print(f"{sd:9.0e} {ref.median().item():10.2e} {errs[0]:10.1e} {errs[1]:16.1e} {errs[2]:16.1e}")


def gram_kernel(logits, vocab, block=1024):
    """The engine's earlier kernel (before results version 3), kept here as a speed baseline: per model shift +
    exp into a block-major (positions, blocks, model, BLOCK) layout, then one batched matmul Gram
    G[a, b] = sum_v e_a yh_b over all blocks of all positions (float32 within a block, float64 across). Fast, but
    its results change in the last bits with the number of models (BLAS picks its blocking by shape), which is
    why the engine no longer uses it."""
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
    """One chunk of reductions for n_models models and all their pairs: the engine's fixed-order kernel vs the
    earlier batched-matmul Gram and vs float32 log_softmax + direct per-pair sums."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    logits = [(torch.randn(chunk, PYTHIA_PADDED, generator=gen) * 2).to(device) for _ in range(n_models)]
    targets = torch.zeros(chunk, dtype=torch.long, device=device)
    uniform = torch.full((PYTHIA_VOCAB,), -math.log(PYTHIA_VOCAB), dtype=torch.float64)
    red = ChunkReducer(n_models, chunk, uniform, device)
    pairs = [(a, b) for a in range(n_models) for b in range(a + 1, n_models)]

    def engine():
        for k, x in enumerate(logits):
            red.load(k, x, targets)
        red.finish(pairs)

    def logsoftmax_pairs():  # float32 log-probs, then a direct sum per pair (the textbook direct kernel)
        lps = [torch.log_softmax(x[:, :PYTHIA_VOCAB], -1) for x in logits]
        ps = [lp.exp() for lp in lps]
        for a, b in pairs:
            d = lps[a] - lps[b]
            (ps[a] * d).sum(-1), (ps[b] * d).sum(-1)

    print(f"\n## one reduction chunk: {n_models} models x {chunk} positions x |V|", end=" ")
    print(f"(all stats + {len(pairs)} pairs, both directions)")
    base = None
    variants = [
        ("engine (fixed-order trees)", engine),
        ("earlier kernel (batched Gram)", lambda: gram_kernel(logits, PYTHIA_VOCAB)),
        ("log_softmax + per-pair direct", logsoftmax_pairs),
    ]
    for name, fn in variants:
        fn()
        t = min(timed(device, fn)[0] for _ in range(repeat))
        base = base or t
        print(f"{name:32s} {1000 * t:8.1f} ms   {t / base:5.2f}x the engine")


# ----------------------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=None, help="corpus tokens (default 1024 on CPU, 32768 on CUDA)")
    ap.add_argument("--doc-tokens", type=int, default=512, help="tokens per document")
    ap.add_argument("--batch-tokens", type=int, default=None)
    ap.add_argument("--chunks", default="", help="comma-separated reduction chunk sizes to sweep (e.g. 64,128,256,512)")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--naive-tokens", type=int, default=8192, help="corpus tokens for the naive pipeline (disk!)")
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of forward and engine (best kept)")
    ap.add_argument("--dry-run", action="store_true", help="check the arguments and the model config, run nothing")
    ap.add_argument("--kernels-only", action="store_true", help="only the one-chunk kernel timing and accuracy table")
    args = ap.parse_args(argv)
    if args.dry_run:
        with torch.device("meta"):
            model = build_models(args.preset, 1, torch.device("meta"), DTYPES[args.dtype])[1]
        n_params = sum(p.numel() for p in model.parameters())
        print(f"dry run: device={args.device} preset={args.preset} ({n_params / 1e6:.0f}M params) dtype={args.dtype}")
        return

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    if args.kernels_only:
        kernel_timing(device, args.seeds, engine_mod._chunk_size(device, args.seeds, PYTHIA_VOCAB))
        accuracy_table(device)
        return
    tokens = args.tokens or (32768 if device.type == "cuda" else 1024)
    batch_tokens = args.batch_tokens or (16384 if device.type == "cuda" else 2048)
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, PYTHIA_VOCAB, args.doc_tokens).astype(np.int64) for _ in range(tokens // args.doc_tokens)]
    n_positions = sum(len(d) - 1 for d in docs)
    q = rng.zipf(1.3, 200_000)
    counts = np.bincount(q[q <= PYTHIA_VOCAB] - 1, minlength=PYTHIA_VOCAB) + 0.5  # add-alpha smoothed unigram
    log_unigram = np.log(counts / counts.sum())
    models = build_models(args.preset, args.seeds, device, dtype)
    keys = list(models)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    context = PRESETS[args.preset][4]
    print(
        f"# extract bench: device={device} ({torch.get_num_threads()} threads) preset={args.preset} dtype={args.dtype} "
        f"seeds={args.seeds} pairs={len(pairs)} positions={n_positions} batch_tokens={batch_tokens} |V|={PYTHIA_VOCAB}"
    )

    # warm-up (allocator, kernels, the engine's kept buffers) on one batch's worth of documents
    warm = docs[: max(1, batch_tokens // args.doc_tokens)]
    extract_group(models, warm, log_unigram, PYTHIA_VOCAB, pairs, device=device, dtype=dtype, batch_tokens=batch_tokens)
    forward_only(models, warm, context, batch_tokens, device)

    run_engine = lambda: extract_group(  # noqa: E731
        models, docs, log_unigram, PYTHIA_VOCAB, pairs, device=device, dtype=dtype, batch_tokens=batch_tokens
    )
    # Alternate the two and keep each one's best time: on a shared machine the load drifts between runs.
    t_fwd = t_path = t_eng = float("inf")
    for _ in range(args.repeat):
        t_fwd = min(t_fwd, timed(device, lambda: forward_only(models, docs, context, batch_tokens, device))[0])
        t_path = min(t_path, timed(device, lambda: engine_forward_path(models, docs, context, batch_tokens, device))[0])
        t, res = timed(device, run_engine)
        t_eng = min(t_eng, t)
    rate = lambda t: n_positions / t  # noqa: E731
    print(f"\n## speed (positions/s, best of {args.repeat}; every statistic, both KL directions of all pairs)")
    print(f"forward only (HF forward, full logits)   {rate(t_fwd):8.0f} pos/s   {t_fwd:7.2f} s")
    print(f"engine's forward path (no reductions)     {rate(t_path):8.0f} pos/s   {t_path:7.2f} s")
    print(
        f"engine                                    {rate(t_eng):8.0f} pos/s   {t_eng:7.2f} s   metrics add "
        f"{100 * (t_eng / t_path - 1):.0f}% over the engine's own forward path (the overhead figure; "
        f"{100 * (t_eng / t_fwd - 1):+.0f}% against an HF forward that builds full logits for every position)"
    )

    if not args.skip_naive:
        workdir = Path(tempfile.mkdtemp(prefix="convdiv-bench-"))
        # the naive pipeline writes positions x |V| x 2 bytes per checkpoint: cap its corpus, compare rates
        naive_docs = docs[: max(1, min(len(docs), args.naive_tokens // args.doc_tokens))]
        naive_positions = sum(len(d) - 1 for d in naive_docs)
        try:
            # best of N like the others (each run rewrites its log-prob files, so runs are independent)
            t_naive = float("inf")
            for _ in range(args.repeat):
                t, (out, write_s) = timed(
                    device, lambda: naive_pipeline(models, naive_docs, log_unigram, pairs, device, workdir)
                )
                if t < t_naive:
                    t_naive, naive, t_write = t, out, write_s
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        naive_rate = naive_positions / t_naive
        print(
            f"naive                                     {naive_rate:8.0f} pos/s   {t_naive:7.2f} s   "
            f"engine is {rate(t_eng) / naive_rate:.1f}x faster "
            f"({naive_positions} positions; forward + fp16 log-probs to disk {t_write:.1f} s, "
            f"re-read per pair + KL {t_naive - t_write:.1f} s)"
        )
        diff = max(float(np.abs(naive[p] - res.pair_kl[p][:naive_positions]).max()) for p in pairs)
        print(f"max |pair KL engine - naive| = {diff:.1e} (the naive pipeline's fp16 log-probs)")

    if args.chunks:
        print("\n## reduction chunk sweep (engine positions/s)")
        saved = engine_mod._CPU_CHUNK, engine_mod._CUDA_CHUNK
        for c in [int(x) for x in args.chunks.split(",")]:
            engine_mod._CPU_CHUNK = engine_mod._CUDA_CHUNK = c
            t, _ = timed(device, run_engine)
            print(f"chunk {c:5d}: {rate(t):10.0f} pos/s")
        engine_mod._CPU_CHUNK, engine_mod._CUDA_CHUNK = saved

    kernel_timing(device, args.seeds, engine_mod._chunk_size(device, args.seeds, PYTHIA_VOCAB))
    accuracy_table(device)


if __name__ == "__main__":
    main()
