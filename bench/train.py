"""Demo-suite training speed: steps/s of each demo size against the issue's baseline, and the whole demo's estimate.

Baseline (issue 4): a 0.6M-parameter GPT-NeoX at batch 16 x 128 trains at ~11 steps/s on 2 idle cores. This runs
that baseline and each demo size in the same process, with the demo's settings (one intra-op thread per run,
deterministic kernels), and prints the ratios, so the figures hold on a loaded machine too. The demo trains two
runs in parallel (one per core), so its estimated wall time is sum(seeds * steps / rate) / 2.

    .venv/bin/python -m bench.train [--steps 30] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

# The 11 steps/s used both cores; one thread does at least half of it (perfect scaling = the worst case).
IDLE_1THREAD = 5.5


def steps_per_second(config, batch: int, seq: int, steps: int, threads: int = 1) -> float:
    from transformers import GPTNeoXForCausalLM

    from convdiv.suites.demo.run import deterministic_torch

    with deterministic_torch(threads):
        torch.manual_seed(0)
        model = GPTNeoXForCausalLM(config)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
        x = torch.randint(0, config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0))

        def one():
            loss = model(input_ids=x, labels=x).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        for _ in range(3):
            one()
        t0 = time.perf_counter()
        for _ in range(steps):
            one()
        return steps / (time.perf_counter() - t0)


def main() -> None:
    from transformers import GPTNeoXConfig

    from convdiv.suites.demo import DEMO, DEMO_QUICK
    from convdiv.suites.demo.model import model_config, size_labels

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="bench the quick config instead of the default")
    ap.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    cfg = DEMO_QUICK if args.quick else DEMO

    # The reference model: ~0.6M parameters, batch 16 x 128.
    base_cfg = GPTNeoXConfig(
        vocab_size=4096,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=128,
        rotary_pct=0.25,
        tie_word_embeddings=False,
    )
    # One thread, like each demo worker: a 2-thread run on a loaded machine measures contention, not speed.
    base = steps_per_second(base_cfg, 16, 128, args.steps, threads=1)
    n_base = sum(p.numel() for p in __import__("transformers").GPTNeoXForCausalLM(base_cfg).parameters())
    print(
        f"baseline {n_base / 1e6:.2f}M params, batch 16x128, 1 thread: {base:6.1f} steps/s "
        f"(issue: ~11 with 2 threads on 2 idle cores, so >= {IDLE_1THREAD} with one)"
    )

    labels = size_labels(cfg, cfg.vocab_size)
    total_s = 0.0
    out: dict = {"baseline_steps_per_s": base, "vs_baseline": {}}
    for label, arch in zip(labels, cfg.sizes):
        rate = steps_per_second(model_config(cfg, arch, cfg.vocab_size), cfg.batch_size, cfg.seq_len, args.steps)
        run_s = cfg.max_step / rate
        total_s += run_s * len(cfg.seeds)
        out["vs_baseline"][label] = rate / base
        print(
            f"{cfg.name} {label:>6} batch {cfg.batch_size}x{cfg.seq_len}: {rate:6.1f} steps/s = {rate / base:4.2f}x "
            f"baseline; one run of {cfg.max_step} steps {run_s:5.0f} s"
        )
    workers = 2
    est = total_s / workers
    print(
        f"{cfg.name}: {len(cfg.sizes)} sizes x {len(cfg.seeds)} seeds, {workers} runs in parallel: ~{est:.0f} s here; "
        f"at most ~{est * base / IDLE_1THREAD:.0f} s on 2 idle cores (scaled by baseline / {IDLE_1THREAD} steps/s)"
    )
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        print(json.dumps({**out, "estimate_s": est, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()
