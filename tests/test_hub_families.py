"""Causal LM families other than GPT-NeoX through the Hub path, offline (issue 22 part 1).

A fake Hub cache (``huggingface_hub``'s layout, HF_HUB_OFFLINE=1) holds tiny random-init checkpoints of two other
families, built here with transformers: a Llama-style suite (``LlamaForCausalLM``, grouped-query attention, untied
embeddings) whose branches are named as OLMo names them (``stage1-step1000-tokens4B``, given by a ``[revisions]``
table), and a GPT-2-style suite (``GPT2LMHeadModel``, tied embeddings) with a branch template. Both pad their output
width past the tokenizer's vocabulary (384 for 320 entries, as Pythia's 50,304 for 50,277): ce must be over the full
width, as for Pythia, and is checked against a float64 recomputation from each model's own logits.

Bad input: a branch missing from the cache is named with its repository in one warning line and only the unit that
needs it is left out; a model whose embedding is narrower than the tokenizer is refused in one line before anything
is registered.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import psycopg
import pytest

from convdiv.ingest.corpus_data import read_corpus
from convdiv.testing import ingest as S
from convdiv.testing.cli import run_convdiv
from convdiv.testing.hub import add_hub_corpus, add_hub_family_run, add_hub_tokenizer, hub_env

TOKENIZER = "toy/bpe-320"
OLMO_BRANCHES = {0: "stage1-step0-tokens0B", 1000: "stage1-step1000-tokens4B"}
MISSING_BRANCH = "stage1-step2000-tokens8B"  # named by the Llama spec, never put into the cache
SEEDS = (1, 2)
NARROW = 256  # fewer embedding rows than the tokenizer's 320 entries


def _padded(n: int) -> int:
    return int(math.ceil(n / 64) * 64) + 64


@pytest.fixture
def hub(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("families") / "cache"
    width = _padded(add_hub_tokenizer(cache, TOKENIZER))
    for seed in SEEDS:
        add_hub_family_run(
            cache, "llama", f"toy/llama-1m-seed{seed}", OLMO_BRANCHES, width=width, tied=False, seed=seed
        )
        add_hub_family_run(
            cache, "gpt2", f"toy/gpt2-1m-seed{seed}", {0: "ckpt0", 1: "ckpt1"}, width=width, tied=True, seed=seed
        )
    add_hub_family_run(cache, "gpt2", "toy/narrow-1m-seed1", {0: "ckpt0"}, width=NARROW, tied=True, seed=1)
    return cache


def write_specs(folder: Path) -> dict[str, Path]:
    """The suites' TOML specs: the Llama one by a [revisions] table, the GPT-2 one by a branch template."""
    common = f'source = "hub"\ntokenizer = "{TOKENIZER}"\nsizes = ["1m"]\n'
    specs = {
        "llama": common
        + 'seeds = [1, 2]\nrepo = "toy/llama-{size}-seed{seed}"\n[revisions]\n'
        + "".join(f'{step} = "{branch}"\n' for step, branch in {**OLMO_BRANCHES, 2000: MISSING_BRANCH}.items()),
        "gpt2": common
        + 'seeds = [1, 2]\nsteps = [0, 1]\nrepo = "toy/gpt2-{size}-seed{seed}"\nrevision = "ckpt{step}"\n',
        "narrow": common + 'seeds = [1]\nsteps = [0]\nrepo = "toy/narrow-{size}-seed{seed}"\nrevision = "ckpt{step}"\n',
    }
    paths = {}
    for name, text in specs.items():
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def snapshot(cache: Path, repo: str, branch: str) -> Path:
    folder = cache / ("models--" + repo.replace("/", "--"))
    return folder / "snapshots" / (folder / "refs" / branch).read_text().strip()


def stored_ce(conn, repo: str, step: int) -> np.ndarray:
    return np.array(
        [
            r[0]
            for r in conn.execute(
                "SELECT ct.ce FROM checkpoint_token ct JOIN checkpoint c USING (checkpoint_id) JOIN run r "
                "USING (run_id) JOIN position p USING (position_id) WHERE r.source = %s AND c.step = %s "
                "ORDER BY p.document, p.idx",
                (repo, step),
            )
        ],
        np.float64,
    )


def test_llama_and_gpt2_hub_suites_full_width_ce_missing_branch_narrow_model(hub, tmp_path, db_url):
    """One database for the three checks (each convdiv call costs seconds of imports): the refusal first, as it
    must leave the warehouse empty, then both suites, the Llama one with a branch the cache lacks."""
    from transformers import AutoModelForCausalLM

    env = hub_env(hub, tmp_path, db_url)
    specs = write_specs(tmp_path)
    add_hub_corpus(env, tmp_path, TOKENIZER)

    # 1. a model whose embedding is narrower than the tokenizer: one line, before anything is registered
    proc = run_convdiv(["ingest", str(specs["narrow"]), "--corpus", "tiny", "--no-progress"], env, check=False)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("convdiv: error: checkpoint 1m/seed1/step0 (toy/narrow-1m-seed1@ckpt0)")
    assert f"embedding has {NARROW} rows" in lines[0] and "320 entries" in lines[0]
    with psycopg.connect(S.conninfo(db_url)) as conn:
        for table in ("suite", "checkpoint", "ingest_unit", "checkpoint_token"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table

    # 2. both suites; the Llama spec's [revisions] names step 2000's branch, which the cache does not hold
    shown = run_convdiv(["suite", "show", str(specs["llama"])], env).stdout
    assert "step 1000: stage1-step1000-tokens4B" in shown and f"step 2000: {MISSING_BRANCH}" in shown
    for name in ("llama", "gpt2"):
        proc = run_convdiv(["ingest", str(specs[name]), "--corpus", "tiny", "--no-progress"], env)
        assert "2 done" in proc.stdout and "0 failed" in proc.stdout, proc.stdout
        assert "Traceback" not in proc.stderr
        warned = [line for line in (proc.stdout + proc.stderr).splitlines() if "warning" in line]
        if name == "gpt2":
            assert warned == []
            continue
        # one line per missing checkpoint, naming its repository and branch; only the unit needing it is left out
        assert len(warned) == len(SEEDS) and "1 missing a revision" in proc.stdout, proc.stdout + proc.stderr
        for seed, line in zip(SEEDS, sorted(warned)):
            assert f"toy/llama-1m-seed{seed}" in line and MISSING_BRANCH in line and "size=1m/step=2000" in line

    suites = {
        "llama": [(f"toy/llama-1m-seed{s}", t, b) for s in SEEDS for t, b in OLMO_BRANCHES.items()],
        "gpt2": [(f"toy/gpt2-1m-seed{s}", t, f"ckpt{t}") for s in SEEDS for t in (0, 1)],
    }
    with psycopg.connect(S.conninfo(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM checkpoint WHERE step = 2000").fetchone()[0] == 0
        corpus_id, vocab = conn.execute("SELECT corpus_id, vocab_size FROM corpus WHERE name = 'tiny'").fetchone()
        data = read_corpus(conn, corpus_id, vocab, "tiny")
        first = data.documents[0][:64]  # the first window (64 positions) sees the document from its start
        for name, checkpoints in suites.items():
            registered = conn.execute(
                "SELECT r.source, c.step, c.revision FROM checkpoint c JOIN run r USING (run_id) JOIN model m "
                "USING (model_id) JOIN suite su USING (suite_id) WHERE su.name = %s ORDER BY 1, 2",
                (name,),
            ).fetchall()
            assert registered == checkpoints  # every checkpoint recorded with its own branch
            for repo, step, branch in checkpoints:
                folder = snapshot(hub, repo, branch)
                model = AutoModelForCausalLM.from_pretrained(str(folder))
                tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
                assert tied == (name == "gpt2")  # GPT-2 style ties its head; the Llama style does not
                assert model.get_output_embeddings().out_features == _padded(vocab) > vocab
                # an independent float64 recomputation from the model's logits over its full (padded) width
                full = S.oracle_logprobs(folder, first, None)
                real = S.oracle_logprobs(folder, first, vocab)
                rows = np.arange(len(first) - 1)
                want_full, want_real = -full[rows, first[1:]], -real[rows, first[1:]]
                got = stored_ce(conn, repo, step)[: len(first) - 1]
                np.testing.assert_allclose(got, want_full, rtol=1e-5, atol=1e-5)
                # the padded columns really carry mass: slicing them off would give a different ce
                assert np.abs(want_full - want_real).min() > 1e-3
            n_positions = sum(len(d) - 1 for d in data.documents)
            assert len(stored_ce(conn, checkpoints[0][0], checkpoints[0][1])) == n_positions


def test_embedding_width_check_reads_local_config_and_skips_what_is_not_here(tmp_path):
    """The same refusal for a local step folder (read from its config.json); a padded head passes; a checkpoint
    whose config is not on disk yet (a hub download) is left to the engine."""
    import json

    from convdiv.errors import ConvdivError
    from convdiv.suites.loading import check_embedding_width
    from convdiv.suites.spec import CheckpointRef

    def ref(width) -> CheckpointRef:
        folder = tmp_path / f"w{width}"
        folder.mkdir()
        if width is not None:
            (folder / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": width}))
        return CheckpointRef("1m", 1, 0, str(folder), str(folder), None)

    check_embedding_width([ref(320), ref(384), ref(None)], 320, "tok")
    with pytest.raises(ConvdivError, match=r"embedding has 319 rows .* fewer than the 320 entries of .* tok"):
        check_embedding_width([ref(319)], 320, "tok")
