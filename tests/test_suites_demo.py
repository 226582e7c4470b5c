"""The demo suite: bundled corpus, quick training, loading back, determinism, resume, cache, loss falls."""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from convdiv.config import Settings
from convdiv.data import austen
from convdiv.suites.demo import (
    DEMO,
    DEMO_QUICK,
    DemoConfig,
    DemoSize,
    demo_training_text,
    demo_validation_text,
    read_train_log,
    train_demo,
)
from convdiv.suites.demo.config import pythia_checkpoint_steps
from convdiv.suites.demo.model import new_model
from convdiv.suites.demo.schedule import BatchSchedule, learning_rate
from convdiv.suites.demo.tokenizer import encode_stream
from convdiv.suites.loading import load_checkpoint, load_tokenizer
from convdiv.suites.spec import get_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    settings = Settings.from_env(data_dir=tmp_path_factory.mktemp("demo") / "data")
    root = train_demo(settings, quick=True, progress=False)
    return settings, root


def probe(n: int = 32) -> torch.Tensor:
    ids = torch.tensor([[(7 * i + 3) % 300 for i in range(n)]])
    return ids


# ---------------------------------------------------------------------------------------------- bundled corpus


def test_bundled_novels_match_the_checksums_recorded_in_their_provenance():
    """Each .xz file, decompressed here independently of austen.py, has the sha256 PROVENANCE.md records for the
    source file, and raw_text returns exactly those bytes: the bundled novels are the published texts."""
    provenance = (austen.DATA_DIR.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\s*\| (\w+)\.txt \| ([0-9a-f]{64}) \|$", provenance, flags=re.M))
    assert sorted(recorded) == sorted(austen.NOVELS)
    for novel in austen.NOVELS:
        data = lzma.decompress((austen.DATA_DIR / f"{novel}.txt.xz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == recorded[novel], novel
        assert austen.raw_text(novel).encode() == data


def test_validation_text_is_persuasion_by_chapter():
    text = demo_validation_text()
    docs = text.split("<|endoftext|>")
    assert len(docs) == 24  # Persuasion has 24 chapters
    assert docs[0].startswith("Sir Walter Elliot, of Kellynch Hall")
    assert docs[-1].endswith("than in its national importance.")
    assert "Chapter" not in text.split(".")[0] and "Finis" not in text
    assert demo_validation_text(max_documents=2).count("<|endoftext|>") == 1
    training = demo_training_text()
    assert "Kellynch" not in training and "Emma Woodhouse" in training  # the held-out novel is not trained on
    assert training.count("<|endoftext|>") == 55 + 48 + 31 + 61 + 50 - 1


# ---------------------------------------------------------------------------------------------- recipe


def test_learning_rate_warms_up_then_cosine_decays_to_a_tenth():
    cfg = replace(DEMO, max_step=1000)  # 10 warm-up steps (1%)
    peak = 1.0
    lrs = [learning_rate(t, peak, cfg) for t in range(cfg.max_step)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[10 + 495] == pytest.approx(0.55, abs=0.01)  # halfway through the cosine: (1 + 0.1) / 2
    assert learning_rate(cfg.max_step, peak, cfg) == pytest.approx(0.1)


def test_checkpoint_schedule_is_pythias():
    assert pythia_checkpoint_steps(1000) == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
    assert pythia_checkpoint_steps(3000)[-3:] == (1000, 2000, 3000)
    assert DEMO.checkpoint_steps()[-1] >= 1000 and len(DEMO.sizes) >= 2
    assert DEMO.seeds == (1, 3, 5, 7, 9)  # the study's PolyPythias seeds
    assert set(pythia_checkpoint_steps(2000)) < set(DEMO.checkpoint_steps())  # Pythia's steps and a few more


def test_models_are_initialised_as_gpt_neox_initialises_pythia():
    """Small init (std sqrt(2 / (5 d))) everywhere but the two projections into the residual stream (Wang init,
    2 / (L sqrt(d))); biases 0 and LayerNorm weights 1; the same seed draws the same weights."""
    arch = DemoSize(hidden=64, layers=3, heads=4, lr=1e-3)
    torch.manual_seed(7)
    model = new_model(DEMO, arch, 2000)
    small, wang = math.sqrt(2 / (5 * 64)), 2 / (3 * math.sqrt(64))
    assert model.config.initializer_range == pytest.approx(small)
    seen = set()
    for name, p in model.named_parameters():
        if "layernorm" in name or "layer_norm" in name:
            assert torch.all(p == (1.0 if name.endswith("weight") else 0.0)), name
        elif name.endswith("bias"):
            assert torch.all(p == 0), name
        else:
            expected = wang if name.endswith(("attention.dense.weight", "mlp.dense_4h_to_h.weight")) else small
            assert p.std().item() == pytest.approx(expected, rel=0.1), name
            seen.add(expected)
    assert seen == {small, wang}
    torch.manual_seed(7)
    again = new_model(DEMO, arch, 2000)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


def test_seed_changes_data_order():
    stream = np.arange(64 * 40, dtype=np.int32)
    a, b = BatchSchedule(stream, 1, 4, 64), BatchSchedule(stream, 2, 4, 64)
    assert not torch.equal(a.batch(0), b.batch(0))
    assert torch.equal(a.batch(3), BatchSchedule(stream, 1, 4, 64).batch(3))  # a pure function of (seed, t)
    # One epoch visits every sequence exactly once.
    epoch = torch.cat([a.batch(t) for t in range(10)])[:, 0].sort().values
    assert torch.equal(epoch, torch.arange(0, 64 * 40, 64))


# ---------------------------------------------------------------------------------------------- quick suite


def test_quick_suite_resolves_and_has_the_layout(quick):
    settings, root = quick
    spec = get_suite("demo-quick", settings)
    assert Path(spec.root) == root
    assert len(spec.sizes) == 2 and spec.seeds == (1, 2, 3)
    assert spec.steps == (0, 1, 2, 4, 8, 16, 32, 64, 128)
    assert all(Path(r.path, "model.safetensors").is_file() for r in spec.checkpoints())
    tok = load_tokenizer(spec)
    assert len(tok) == DEMO_QUICK.vocab_size
    assert tok.convert_ids_to_tokens([0, 1]) == ["<|endoftext|>", "<|padding|>"]
    paragraph = demo_validation_text().split("\n\n")[3]
    assert tok.decode(tok(paragraph)["input_ids"]) == paragraph  # byte-level: lossless


def test_quick_checkpoints_load_back_deterministically(quick):
    settings, _ = quick
    spec = get_suite("demo-quick", settings)
    big = spec.sizes[-1]
    ref = spec.checkpoints(sizes=big, seeds=2, steps=64)[0]
    a, b = load_checkpoint(ref), load_checkpoint(ref)
    with torch.no_grad():
        la, lb = a.model(probe()).logits, b.model(probe()).logits
    assert torch.equal(la, lb) and a.weights_sha256 == b.weights_sha256
    assert la.shape[-1] == 384 > DEMO_QUICK.vocab_size  # output layer padded like Pythia's
    other = load_checkpoint(spec.checkpoints(sizes=big, seeds=3, steps=64)[0])
    with torch.no_grad():
        lo = other.model(probe()).logits
    assert not torch.allclose(la, lo, atol=1e-3)  # different seeds diverge
    inits = {load_checkpoint(r).weights_sha256 for r in spec.checkpoints(sizes=big, steps=0)}
    assert len(inits) == 3  # the seed changes the initialisation


def test_quick_loss_falls_and_the_log_matches_the_checkpoints(quick):
    settings, root = quick
    rows = read_train_log(root)
    spec = get_suite("demo-quick", settings)
    assert len(rows) == len(spec.checkpoints())
    for size in spec.sizes:
        for seed in spec.seeds:
            run = sorted((r for r in rows if r["size"] == size and r["seed"] == seed), key=lambda r: r["step"])
            assert [r["step"] for r in run] == list(spec.steps)
            # Step 0: small init gives logits of standard deviation ~sqrt(2/5) over the 384 padded outputs, so the
            # loss is near log 384 + 1/5 (a softmax of Gaussian logits); training must take a good bite out of it.
            assert abs(run[0]["val_loss"] - (math.log(384) + 0.2)) < 0.2
            assert run[-1]["val_loss"] < run[0]["val_loss"] - 1.0
            assert run[-1]["train_loss"] < run[0]["train_loss"] - 1.0
    # Oracle: recompute one logged validation loss from the saved checkpoint and the held-out text.
    tok = load_tokenizer(spec)
    stream = encode_stream(tok, demo_validation_text())
    starts = [
        i * (len(stream) - DEMO_QUICK.seq_len) // (DEMO_QUICK.val_sequences - 1)
        for i in range(DEMO_QUICK.val_sequences)
    ]  # evenly spread windows, as documented
    val = torch.stack([torch.from_numpy(stream[s : s + DEMO_QUICK.seq_len].astype(np.int64)) for s in starts])
    ref = spec.checkpoints(sizes=spec.sizes[0], seeds=3, steps=32)[0]
    model = load_checkpoint(ref).model
    with torch.no_grad():
        logp = torch.log_softmax(model(val).logits[:, :-1].double(), -1)
    nll = -logp.gather(-1, val[:, 1:, None]).mean().item()
    logged = next(r for r in rows if (r["size"], r["seed"], r["step"]) == (ref.size, 3, 32))
    assert nll == pytest.approx(logged["val_loss"], abs=1e-4)


def test_training_again_is_a_noop(quick):
    settings, root = quick
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.safetensors")}
    assert train_demo(settings, quick=True, progress=False) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.safetensors")} == before


def test_cli_train_reuses_the_suite_and_prints_losses(quick):
    from convdiv.cli import cli

    settings, root = quick
    result = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "suite", "train", "demo", "--quick"])
    assert result.exit_code == 0, result.output
    assert "loss per checkpoint, seed 1" in result.output and str(root) in result.output


def test_changed_configuration_is_refused(quick, tmp_path):
    settings, root = quick
    changed = replace(DEMO_QUICK, max_step=64)
    with pytest.raises(Exception, match="different configuration"):
        train_demo(settings, progress=False, config=changed)


# ---------------------------------------------------------------------------------------------- resume


TINY = DemoConfig(
    name="tiny",
    vocab_size=300,
    sizes=(DemoSize(16, 1, 2, 1e-2),),
    seeds=(5,),
    max_step=16,
    batch_size=4,
    seq_len=16,
    train_chars=60_000,
    val_sequences=2,
)


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.safetensors"))
    }


def test_killed_training_resumes_to_identical_weights(tmp_path):
    fresh = train_demo(Settings.from_env(data_dir=tmp_path / "a"), progress=False, config=TINY)
    settings = Settings.from_env(data_dir=tmp_path / "b")
    partial = train_demo(settings, progress=False, config=TINY, stop_after=6)  # "killed" after step 6
    (run,) = [p for p in partial.iterdir() if p.is_dir() and p.name != "tokenizer"]  # the one size
    assert not (partial / "suite.toml").exists()
    state = torch.load(run / "seed5" / "train_state.pt", weights_only=True)
    assert state["step"] == 4  # the last checkpoint before the kill
    assert not (run / "seed5" / "step8").exists()
    resumed = train_demo(settings, progress=False, config=TINY)
    assert (resumed / "suite.toml").is_file() and not (run / "seed5" / "train_state.pt").exists()
    assert hashes(resumed) == hashes(fresh) and len(hashes(fresh)) == len(pythia_checkpoint_steps(16))
    log = [json.loads(l) for l in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(pythia_checkpoint_steps(16))


def test_parallel_workers_train_the_same_weights_as_one_process(tmp_path):
    # Two seeds in two spawned processes: the jobs and the worker function cross a pickle boundary, and each run
    # stays a pure function of its seed, so the weights match those of the same runs trained one after another.
    cfg = replace(TINY, name="tiny-pair", seeds=(5, 6))
    serial = train_demo(Settings.from_env(data_dir=tmp_path / "a"), progress=False, config=cfg, workers=1)
    parallel = train_demo(Settings.from_env(data_dir=tmp_path / "b"), progress=False, config=cfg, workers=2)
    assert len(hashes(serial)) == 2 * len(pythia_checkpoint_steps(16))
    assert hashes(parallel) == hashes(serial)
    assert read_train_log(parallel) == read_train_log(serial)
