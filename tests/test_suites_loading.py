"""Checkpoint loading: local suites through from_pretrained, weights sha256, tokenizer identity, bad input."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convdiv.errors import ConvdivError
from convdiv.suites.loading import (
    LoadedCheckpoint,
    check_identical_weights,
    checkpoint_weights_sha256,
    load_checkpoint,
    load_tokenizer,
)
from convdiv.suites.safetensors import safetensors_param_count
from convdiv.suites.spec import local_spec
from convdiv.testing.suites import build_random_suite, build_tokenizer
from convdiv.vocab import tokenizer_fingerprint

ROOT = Path(__file__).resolve().parents[1]
CONVDIV = [sys.executable, "-c", "from convdiv.cli import main; main()"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return build_random_suite(
        tmp_path_factory.mktemp("suite") / "rand", sizes=("xs", "s"), seeds=(1, 2), steps=(0, 1, 4)
    )


@pytest.fixture
def suite_root(pristine, tmp_path) -> Path:
    """A private copy each test may damage."""
    return Path(shutil.copytree(pristine, tmp_path / "rand"))


def ids(n: int = 24) -> torch.Tensor:
    return torch.arange(n).remainder(300).unsqueeze(0)


def file_sha(folder: Path) -> str:
    """Independent oracle: sha256 over the one safetensors file's bytes."""
    (path,) = folder.glob("*.safetensors")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_local_checkpoint(suite_root):
    spec = local_spec(suite_root)
    tok = load_tokenizer(spec)
    assert len(tok) == 320
    ref = spec.checkpoints(sizes="s", seeds=2, steps=4)[0]
    loaded = load_checkpoint(ref)
    assert isinstance(loaded, LoadedCheckpoint) and loaded.ref == ref
    assert not loaded.model.training
    assert loaded.weights_sha256 == file_sha(Path(ref.path)) == checkpoint_weights_sha256(ref)
    assert loaded.n_params == sum(p.numel() for p in loaded.model.parameters()) == safetensors_param_count(ref.path)
    with torch.no_grad():
        logits = loaded.model(ids()).logits
    assert logits.shape[-1] > len(tok)  # padded like Pythia; the extract engine slices to len(tokenizer)
    assert logits.dtype == torch.float32


def test_same_checkpoint_twice_gives_identical_logits_and_hash(suite_root):
    ref = local_spec(suite_root).checkpoints(sizes="xs", seeds=1, steps=1)[0]
    a, b = load_checkpoint(ref), load_checkpoint(ref)
    with torch.no_grad():
        assert torch.equal(a.model(ids()).logits, b.model(ids()).logits)
    assert a.weights_sha256 == b.weights_sha256


def test_dtype_is_applied(suite_root):
    ref = local_spec(suite_root).checkpoints(sizes="xs", seeds=1, steps=0)[0]
    loaded = load_checkpoint(ref, dtype=torch.bfloat16)
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_identical_weights_across_steps_are_reported(suite_root):
    spec = local_spec(suite_root)
    refs = spec.checkpoints(sizes="xs", seeds=1)
    assert check_identical_weights([load_checkpoint(r) for r in refs]) == []
    # Publish step 1's weights again under step 4 (the known Pythia branch problem).
    shutil.rmtree(suite_root / "xs" / "seed1" / "step4")
    shutil.copytree(suite_root / "xs" / "seed1" / "step1", suite_root / "xs" / "seed1" / "step4")
    loaded = [load_checkpoint(r) for r in spec.checkpoints(sizes="xs")]
    warnings = check_identical_weights(loaded)
    assert len(warnings) == 1
    assert "xs/seed1" in warnings[0] and "steps 1, 4" in warnings[0]
    # Same weights in two different runs is not a warning (the helper compares steps within a run).
    pairs = [(r, "same") for r in spec.checkpoints(sizes="xs", steps=0)]
    assert check_identical_weights(pairs) == []


def test_missing_checkpoint_folder_names_the_checkpoint(suite_root):
    spec = local_spec(suite_root)
    ref = spec.checkpoints(sizes="s", seeds=1, steps=4)[0]
    shutil.rmtree(ref.path)
    with pytest.raises(ConvdivError) as err:
        load_checkpoint(ref)
    msg = str(err.value)
    assert "s/seed1/step4" in msg and ref.path in msg and "missing" in msg and "\n" not in msg


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_safetensors_names_the_checkpoint(suite_root, damage):
    ref = local_spec(suite_root).checkpoints(sizes="xs", seeds=2, steps=1)[0]
    (path,) = Path(ref.path).glob("*.safetensors")
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) - 100], "garbage": b"\x07" * 300, "empty": b""}[damage])
    with pytest.raises(ConvdivError) as err:
        load_checkpoint(ref)
    msg = str(err.value)
    assert "xs/seed2/step1" in msg and "corrupt safetensors" in msg and "\n" not in msg


def test_mismatching_tokenizer_in_a_step_folder_is_refused(suite_root, tmp_path):
    spec = local_spec(suite_root)
    ref = spec.checkpoints(sizes="s", seeds=2, steps=1)[0]
    # The suite's own tokenizer saved next to a checkpoint is fine ...
    shutil.copytree(suite_root / "tokenizer", ref.path, dirs_exist_ok=True)
    load_checkpoint(ref)
    load_tokenizer(spec)
    # ... a different one (another vocabulary size) is not.
    other = build_tokenizer(tmp_path / "other", vocab_size=300)
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(load_tokenizer(spec))
    shutil.copytree(tmp_path / "other", ref.path, dirs_exist_ok=True)
    for call in (lambda: load_checkpoint(ref), lambda: load_tokenizer(spec)):
        with pytest.raises(ConvdivError) as err:
            call()
        assert "s/seed2/step1" in str(err.value) and "tokenizer differs" in str(err.value)


def test_missing_tokenizer_folder(suite_root):
    spec = local_spec(suite_root)
    shutil.rmtree(suite_root / "tokenizer")
    with pytest.raises(ConvdivError, match="tokenizer folder not found"):
        load_tokenizer(spec)


def test_cli_check_fails_on_a_corrupt_checkpoint(suite_root):
    env = {**os.environ, "CONVDIV_DATA_DIR": str(suite_root.parent / "data")}

    def run():
        return subprocess.run(
            [*CONVDIV, "suite", "check", str(suite_root)],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )

    from click.testing import CliRunner

    from convdiv.cli import cli

    ok = CliRunner().invoke(cli, ["--data-dir", env["CONVDIV_DATA_DIR"], "suite", "check", str(suite_root)])
    assert ok.exit_code == 0, ok.output
    assert "12 checkpoints load" in ok.output
    (path,) = (suite_root / "s" / "seed1" / "step0").glob("*.safetensors")
    path.write_bytes(path.read_bytes()[:-8])
    bad = run()
    assert bad.returncode != 0
    lines = [l for l in bad.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "s/seed1/step0" in lines[0] and "corrupt" in lines[0], bad.stderr


def test_random_init_pythia_70m_config_loads_through_the_same_path(tmp_path, pythia_tokenizer):
    """Pythia-70m's published architecture, random weights, saved locally: 70,426,624 parameters (Pythia paper)."""
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=50304,
        hidden_size=512,
        num_hidden_layers=6,
        num_attention_heads=8,
        intermediate_size=2048,
        max_position_embeddings=2048,
        rotary_pct=0.25,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        initializer_range=0.02,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
    )
    root = tmp_path / "py70"
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = GPTNeoXForCausalLM(config).half()  # the hub's Pythia checkpoints are stored in float16
    model.save_pretrained(str(root / "70m" / "seed1" / "step0"), safe_serialization=True)
    AutoTokenizer.from_pretrained(pythia_tokenizer).save_pretrained(str(root / "tokenizer"))
    del model

    spec = local_spec(root)
    tok = load_tokenizer(spec)
    assert len(tok) == 50277
    loaded = load_checkpoint(spec.checkpoints()[0], dtype=torch.float32)
    assert loaded.n_params == 70_426_624
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert loaded.weights_sha256 == file_sha(root / "70m" / "seed1" / "step0")
    text_ids = tok("Sir Walter Elliot, of Kellynch Hall", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = loaded.model(text_ids).logits
    assert logits.shape == (1, text_ids.shape[1], 50304) and torch.isfinite(logits).all()


def test_hub_checkpoint_uses_from_pretrained_with_revision_and_fails_naming_it(tmp_path):
    """Offline, the real hub code path is taken and its failure names the checkpoint and revision."""
    code = (
        "from convdiv.suites.spec import pythia_spec\n"
        "from convdiv.suites.loading import load_checkpoint\n"
        "from convdiv.errors import ConvdivError\n"
        "ref = pythia_spec().checkpoints(sizes='70m', seeds=3, steps=1000)[0]\n"
        "try:\n    load_checkpoint(ref)\nexcept ConvdivError as e:\n    print('ERR', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout.strip()
    assert out.startswith("ERR checkpoint 70m/seed3/step1000 (EleutherAI/pythia-70m-seed3@step1000)"), proc.stderr
    assert "\n" not in out


@pytest.mark.parametrize("damage", ["missing", "tokenizer"])
def test_cli_check_names_a_missing_or_foreign_checkpoint(suite_root, tmp_path, damage):
    from click.testing import CliRunner

    from convdiv.cli import cli

    step = suite_root / "xs" / "seed2" / "step4"
    if damage == "missing":
        shutil.rmtree(step)  # the grid is scanned as a union: seed1 still has step4
    else:
        build_tokenizer(tmp_path / "other", vocab_size=300)
        shutil.copytree(tmp_path / "other", step, dirs_exist_ok=True)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "suite", "check", str(suite_root)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConvdivError)
    message = str(result.exception)
    assert "xs/seed2/step4" in message and "\n" not in message
    assert ("missing" if damage == "missing" else "tokenizer differs") in message
