"""bench/gpu.py, prepared for a GPU machine, runs end to end on CPU with --smoke (a tiny config) and reports the
headline ratios of issue 23's goals 1-2 for both dtypes. Its figures are not checked: no test asserts a time."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_bench_smoke_reports_every_headline_for_both_dtypes():
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu", "--smoke", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["device"] == "cpu" and set(out["results"]) == {"bfloat16", "float32"}
    for figures in out["results"].values():
        assert math.isfinite(figures["overhead_vs_hf_forward"]) and figures["overhead_vs_hf_forward"] > -1
        assert figures["forward_path_vs_hf_forward"] > 0 and figures["speedup_vs_naive"] > 0
        assert all(figures["seconds"][k] > 0 for k in ("hf_forward", "engine_forward_path", "engine", "naive"))
        assert "load average" in figures["load_before"]


def test_gpu_bench_says_when_there_is_no_gpu():
    import torch

    if torch.cuda.is_available():
        return
    done = subprocess.run([sys.executable, "-m", "bench.gpu", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "no CUDA device" in done.stderr and "Traceback" not in done.stderr
