"""Fault: checkpoints that do not load. Only the units that need them fail; healthy steps of the same group are
published, and the user sees one line naming the checkpoint and the fix (no transformers LOAD REPORT on stderr,
no "look at the above report!")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S

CONVDIV = str(Path(sys.executable).with_name("convdiv"))


def _mismatched_config(folder: Path) -> None:
    """config.json says a wider vocabulary than the saved weights: transformers logs a LOAD REPORT (MISMATCH) on
    stderr, then raises "look at the above report!"."""
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] += 64
    (folder / "config.json").write_text(json.dumps(config))


def _missing_weight(folder: Path) -> str:
    """A tensor left out of the safetensors file: transformers would load the rest and randomly initialise it,
    with only a LOAD REPORT (MISSING) on stderr."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    name = next(k for k in tensors if k.endswith("mlp.dense_h_to_4h.weight"))
    del tensors[name]
    save_file(tensors, str(path), metadata={"format": "pt"})
    return name


def _states(db_url):
    with psycopg.connect(S.conninfo(db_url)) as conn:
        return dict(conn.execute("SELECT unit_key, status FROM ingest_unit").fetchall()), dict(
            conn.execute("SELECT unit_key, error FROM ingest_unit WHERE status = 'failed'").fetchall()
        )


def test_bad_checkpoints_fail_only_their_units_with_one_line(engine, settings, db_url, suite_root, tmp_path):
    root = S.copy_suite(suite_root, tmp_path / "tiny")
    S.add_tiny_corpus(engine, root)
    _mismatched_config(root / "s" / "seed2" / "step4")
    missing = _missing_weight(root / "xs" / "seed1" / "step16")

    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [CONVDIV, "ingest", str(root), "--corpus", S.CORPUS, "--steps", "0,4,16", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("convdiv: error:") and "Traceback" not in proc.stderr
    assert "LOAD REPORT" not in proc.stderr and "above report" not in proc.stderr, proc.stderr
    # the first bad checkpoint claimed (sizes smallest first: xs), what is wrong with it, and the fix
    assert "xs/seed1/step16" in line and missing in line and "missing from the checkpoint" in line
    assert "1 more checkpoint" in line and "run the ingest again" in line

    states, errors = _states(db_url)
    # step 4 of s writes s/seed2/step4; step 16 of s compares it with step 16 (consecutive steps): both fail.
    # Step 0 of s, in the same claimed group, needs neither and is published; so are xs's steps 0 and 4.
    assert states == {
        "size=xs/step=0": "done",
        "size=xs/step=4": "done",
        "size=xs/step=16": "failed",
        "size=s/step=0": "done",
        "size=s/step=4": "failed",
        "size=s/step=16": "failed",
    }
    assert "s/seed2/step4" in errors["size=s/step=4"] and "s/seed2/step4" in errors["size=s/step=16"]
    assert "config.json" in errors["size=s/step=4"] and "shape" in errors["size=s/step=4"]
    assert "\n" not in errors["size=s/step=4"]
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 3 * len(S.SEEDS) * n
    with psycopg.connect(S.conninfo(db_url)) as conn:
        status = conn.execute("SELECT status FROM ingest_run WHERE NOT arguments ? 'refresh_aggregates'").fetchall()
    assert status == [("failed",)]

    # Repaired, the next run computes exactly the three failed units.
    for rel in ("s/seed2/step4", "xs/seed1/step16"):
        for name in ("config.json", "model.safetensors"):
            (root / rel / name).write_bytes((suite_root / rel / name).read_bytes())
    summary = ingest(engine, settings, str(root), S.CORPUS, steps="0,4,16", progress=False)
    assert (summary.units_done, summary.units_skipped, summary.units_failed) == (3, 3, 0)
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * 3 * len(S.SEEDS) * n


@pytest.mark.parametrize("workers", [1, 2])
def test_nan_logits_fail_only_the_units_that_need_the_checkpoint(engine, db_url, suite_root, tmp_path, workers):
    """A checkpoint whose weights hold NaN where every logit depends on them (the final layer norm) at step 4: the
    step-0 unit, computed in the same work group, is published; steps 4 and 16 (which compares with step 4) fail;
    the summary counts both failures; the warning naming checkpoint and tensor is printed; one error line."""
    from safetensors.torch import load_file, save_file

    root = S.copy_suite(suite_root, tmp_path / "tiny")
    S.add_tiny_corpus(engine, root)
    path = root / "xs" / "seed2" / "step4" / "model.safetensors"
    tensors = load_file(str(path))
    tensors["gpt_neox.final_layer_norm.weight"][:] = float("nan")
    save_file(tensors, str(path), metadata={"format": "pt"})

    # (wide enough that the warning is not wrapped)
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "400"}
    args = ["--sizes", "xs", "--steps", "0,4,16", "--workers", str(workers), "--no-progress"]
    proc = subprocess.run(
        [CONVDIV, "ingest", str(root), "--corpus", S.CORPUS, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("convdiv: error:") and "Traceback" not in proc.stderr, proc.stderr
    assert "2 ingest unit(s) failed on a bad checkpoint" in lines[0] and "xs/seed2/step4" in lines[0], lines[0]
    assert "NaN or infinite logits" in lines[0] and "gpt_neox.final_layer_norm.weight" in lines[0], lines[0]
    # the summary: 1 done, 2 failed (counted from the ledger), and the weights warning naming checkpoint and tensor
    assert ": 1 done, 0 skipped (already done), 0 done by other workers, 2 failed" in proc.stdout, proc.stdout
    warning = [line for line in proc.stdout.splitlines() if "non-finite weights" in line]
    assert len(warning) == 1 and "xs/seed2/step4" in warning[0], proc.stdout
    assert "gpt_neox.final_layer_norm.weight" in warning[0], proc.stdout
    states, errors = _states(db_url)
    assert states == {"size=xs/step=0": "done", "size=xs/step=4": "failed", "size=xs/step=16": "failed"}
    assert "NaN or infinite logits" in errors["size=xs/step=4"] and "xs/seed2/step4" in errors["size=xs/step=16"]
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == len(S.SEEDS) * n
