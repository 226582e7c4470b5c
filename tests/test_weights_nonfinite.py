"""Weights that hold NaN or inf where the model never looks (input-embedding rows of padded vocabulary ids, which no
token ever looks up) are warned about, not silently accepted: the scan runs over the safetensors bytes while they
are hashed."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from convdiv.ingest.run import ingest
from convdiv.suites.loading import load_checkpoint
from convdiv.suites.safetensors import hash_weights
from convdiv.suites.spec import local_spec
from convdiv.testing import ingest as S


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_scan_finds_nan_and_inf_per_tensor_in_every_float_dtype(tmp_path, dtype):
    clean = torch.linspace(
        -3e4 if dtype == torch.float16 else -1e30, 6e4 if dtype == torch.float16 else 1e30, 101, dtype=torch.float64
    ).to(dtype)
    assert torch.isfinite(clean).all()
    bad = clean.clone()
    bad[[3, 50]] = float("nan")
    bad[7] = float("-inf")
    path = tmp_path / "model.safetensors"
    save_file({"a.clean": clean, "b.bad": bad, "c.ints": torch.arange(10)}, str(path))
    sha, nonfinite = hash_weights([path])
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert nonfinite == ("b.bad: 3 value(s)",)


def test_unused_nan_weights_are_warned_naming_checkpoint_and_tensor(engine, settings, suite_root, tmp_path):
    root = S.copy_suite(suite_root, tmp_path / "suite")
    shutil.rmtree(root / "s")
    step = root / "xs" / "seed2" / "step4"
    tensors = load_file(str(step / "model.safetensors"))
    vocab = 320
    embed = tensors["gpt_neox.embed_in.weight"]
    assert embed.shape[0] > vocab  # padded like Pythia's 50,277 -> 50,304: ids past |V| are never an input
    embed[vocab + 1] = float("nan")
    save_file(tensors, str(step / "model.safetensors"), metadata={"format": "pt"})

    ref = local_spec(root).ref("xs", 2, 4)
    loaded = load_checkpoint(ref)
    assert loaded.nonfinite == ("gpt_neox.embed_in.weight: 16 value(s)",)
    [warning] = loaded.warnings()
    assert warning.startswith("checkpoint xs/seed2/step4 (") and "non-finite weights (NaN/inf)" in warning

    S.add_tiny_corpus(engine, root)
    summary = ingest(engine, settings, str(root), S.CORPUS, progress=False)
    assert summary.units_failed == 0 and summary.units_done == len(S.STEPS)
    assert [w for w in summary.warnings if "non-finite" in w] == [warning]
    clean = load_checkpoint(local_spec(root).ref("xs", 1, 4))
    assert clean.nonfinite == () and clean.warnings() == []


def test_nan_weights_that_reach_the_logits_fail_only_their_units_and_keep_the_warning(
    engine, settings, suite_root, tmp_path
):
    """NaN in the final layer norm of xs/seed2/step4 makes every logit NaN: the units that need that checkpoint (step
    4, and step 16 which compares with it) fail; step 0, computed in the same work group, is published. The summary
    the error carries counts both failures (from the ledger) and keeps the warning naming checkpoint and tensor."""
    from convdiv.ingest.run import IngestError

    root = S.copy_suite(suite_root, tmp_path / "suite")
    shutil.rmtree(root / "s")
    step = root / "xs" / "seed2" / "step4"
    tensors = load_file(str(step / "model.safetensors"))
    tensors["gpt_neox.final_layer_norm.weight"][:] = float("nan")
    save_file(tensors, str(step / "model.safetensors"), metadata={"format": "pt"})

    S.add_tiny_corpus(engine, root)
    with pytest.raises(IngestError) as caught:
        ingest(engine, settings, str(root), S.CORPUS, steps="0,4,16", progress=False)
    summary = caught.value.summary
    assert (summary.units_done, summary.units_failed, summary.units_elsewhere, summary.units_running) == (1, 2, 0, 0)
    assert {o.unit_key: o.status for o in summary.outcomes} == {
        "size=xs/step=0": "done",
        "size=xs/step=4": "failed",
        "size=xs/step=16": "failed",
    }
    [warning] = [w for w in summary.warnings if "non-finite" in w]
    assert "xs/seed2/step4" in warning and "gpt_neox.final_layer_norm.weight" in warning
    assert "NaN or infinite logits" in str(caught.value) and "xs/seed2/step4" in str(caught.value)
