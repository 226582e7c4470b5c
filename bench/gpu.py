"""GPU bench of the extract engine (issue 23, goals 1-2 on a CUDA device), prepared to run in under 10 minutes.

    .venv/bin/python -m bench.gpu                  # CUDA: Pythia-410m config, bfloat16 then float32, 32,768 tokens
    .venv/bin/python -m bench.gpu --json           # the same, one JSON object
    .venv/bin/python -m bench.gpu --smoke          # CPU, a tiny config: the whole script in seconds (tests use it)

Per dtype, in one process and interleaved rounds (bench/extract.py's `measure`, best of the rounds kept): the plain
Hugging Face forward first (5 seeds, full logits of every position), then the engine's forward path against it
(goal <= 1.05x), the engine with every statistic and both KL directions of all 10 seed pairs (its overhead over the
HF forward; goal <= 30%) and the naive study pipeline on a capped corpus (--naive-tokens; goal: engine >= 10x).
Models are random-init GPT-NeoX with Pythia's padded logit width, built on the device. A dtype that would start
after --time-limit seconds is skipped and reported as skipped, so the script ends within its 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

PRESETS = ("tiny", "small", "pythia-70m", "pythia-410m")  # bench/extract.py's PRESETS
SMOKE = {"preset": "tiny", "tokens": 256, "doc_tokens": 128, "seeds": 2, "rounds": 1, "naive_tokens": 128}


def run_dtype(dtype_name: str, args, device: torch.device) -> dict:
    from bench import extract as bench  # imported only once there is a device to measure

    dtype = bench.DTYPES[dtype_name]
    docs, log_unigram = bench.make_corpus(args.tokens, args.doc_tokens)
    models = bench.build_models(args.preset, args.seeds, device, dtype)
    keys = list(models)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    naive_docs = docs[: max(1, args.naive_tokens // args.doc_tokens)] if args.naive_tokens else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    load_before = bench.load_text()
    best, naive_stages, _, _ = bench.measure(
        models, docs, log_unigram, pairs, device=device, dtype=dtype, batch_tokens=args.batch_tokens,
        context=bench.PRESETS[args.preset][4], rounds=args.rounds, naive_docs=naive_docs,
    )  # fmt: skip
    naive_positions = sum(len(d) - 1 for d in naive_docs) if naive_docs else 0
    figures = bench.headline(best, sum(len(d) - 1 for d in docs), naive_positions)
    figures.update(dtype=dtype_name, load_before=load_before, load_after=bench.load_text())
    if device.type == "cuda":
        figures["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    if not args.json:
        print(f"\n# {dtype_name}: {load_before}")
        bench.print_speed(best, naive_stages, figures, len(pairs), args.rounds)
    del models
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return figures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, a tiny config: check the script end to end")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    ap.add_argument("--preset", choices=PRESETS, default="pythia-410m")
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--tokens", type=int, default=32768)
    ap.add_argument("--doc-tokens", type=int, default=512)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--naive-tokens", type=int, default=4096, help="corpus of the naive pipeline (0: skip it)")
    ap.add_argument("--time-limit", type=float, default=420.0, help="seconds after which no further dtype starts")
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    args = ap.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.batch_tokens = 256
    bad = [d for d in args.dtypes.split(",") if d not in ("bfloat16", "float32", "float16")]
    if bad:
        print(f"bench/gpu.py: --dtypes {','.join(bad)}: give bfloat16, float32 or float16", file=sys.stderr)
        return 2
    device = torch.device(args.device or ("cpu" if args.smoke else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here; run it on a GPU machine, or use --smoke", file=sys.stderr)
        return 2
    started = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    out: dict = {"device": name, "preset": args.preset, "seeds": args.seeds, "tokens": args.tokens, "results": {}}
    if not args.json:
        print(
            f"# GPU bench: {name}, preset {args.preset}, {args.seeds} seeds, {args.tokens} tokens, torch {torch.__version__}"
        )
    for dtype_name in args.dtypes.split(","):
        if time.perf_counter() - started > args.time_limit:
            out["results"][dtype_name] = {"skipped": f"started after {args.time_limit:.0f} s"}
            continue
        out["results"][dtype_name] = run_dtype(dtype_name, args, device)
    out["seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(out))
    else:
        print(f"\n# done in {out['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
