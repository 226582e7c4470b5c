"""The Hugging Face Hub path, offline: a fake Hub cache in huggingface_hub's exact layout holds random-init GPT-NeoX
checkpoints under Pythia's names (EleutherAI/pythia-14m-seed1 at step0, step1, ...) and a small tokenizer under the
Pythia tokenizer repository; every command runs with HF_HUB_OFFLINE=1, so no test touches the network.

Covered: `suite show pythia` (selection, weights size, free disk), `ingest pythia` loading by revision and recording
revision + weights sha256 per checkpoint, resume after kill -9, re-run skipping done units, a missing revision
warned once and its units skipped, --cache-policy evict, download retries.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from convdiv.testing.cli import run_convdiv
from convdiv.testing.hub import add_hub_corpus, build_fake_hub, hub_env
from convdiv.testing.pause import COMMAND, PAUSE_ENV

SELECTION = ["--sizes", "14m", "--seeds", "1,3", "--steps", "0,1"]


@pytest.fixture(scope="module")
def hub_template(tmp_path_factory) -> Path:
    return build_fake_hub(tmp_path_factory.mktemp("hub") / "cache", sizes=("14m",), seeds=(1, 3), steps=(0, 1))


@pytest.fixture
def hub(hub_template, tmp_path) -> Path:
    """A private copy of the fake Hub cache (tests evict and damage it)."""
    return Path(shutil.copytree(hub_template, tmp_path / "hub", symlinks=True))


def repo_dir(cache: Path, repo: str) -> Path:
    return cache / ("models--" + repo.replace("/", "--"))


def snapshot_weights(cache: Path, repo: str, revision: str) -> Path:
    commit = (repo_dir(cache, repo) / "refs" / revision).read_text().strip()
    return repo_dir(cache, repo) / "snapshots" / commit / "model.safetensors"


def rows(db_url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(sql, params).fetchall()


def test_suite_show_pythia_states_selection_weights_and_free_disk(hub, tmp_path):
    env = hub_env(hub, tmp_path)
    out = run_convdiv(["suite", "show", "pythia", *SELECTION], env).stdout
    assert "EleutherAI/pythia-14m-seed1" in out and "EleutherAI/pythia-14m-seed3" in out
    assert "from_pretrained('EleutherAI/pythia-14m-seed1', revision='step0')" in " ".join(out.split())
    # The four cached checkpoints count the distinct blobs their snapshots link to.
    blobs = {
        f.resolve()
        for repo in ("EleutherAI/pythia-14m-seed1", "EleutherAI/pythia-14m-seed3")
        for f in (repo_dir(hub, repo) / "snapshots").rglob("*")
        if f.is_file()
    }
    per_run = [
        {f.resolve() for f in (repo_dir(hub, repo) / "snapshots").rglob("*") if f.is_file()}
        for repo in ("EleutherAI/pythia-14m-seed1", "EleutherAI/pythia-14m-seed3")
    ]
    assert sum(len(b) for b in per_run) == len(blobs)
    import json

    shown = json.loads(run_convdiv(["suite", "show", "pythia", *SELECTION, "--json"], env).stdout)
    snap_bytes = 0
    for repo in ("EleutherAI/pythia-14m-seed1", "EleutherAI/pythia-14m-seed3"):
        for rev in ("step0", "step1"):
            snap = snapshot_weights(hub, repo, rev).parent
            snap_bytes += sum(f.resolve().stat().st_size for f in snap.iterdir())
    assert shown["checkpoints"] == 4 and shown["checkpoints_on_disk"] == 4
    assert shown["weights_bytes"] == snap_bytes and shown["weights_bytes_to_download"] == 0
    assert shown["free_disk_at"] == str(hub) and shown["free_disk_bytes"] > 0
    assert "weights" in out and "4 on disk" in " ".join(out.split()) and "free disk" in out

    # The whole study grid: 500 checkpoints, 496 of them to download (estimated at 2 bytes per parameter).
    whole = json.loads(run_convdiv(["suite", "show", "pythia", "--json"], env).stdout)
    assert whole["checkpoints"] == 500 and whole["checkpoints_on_disk"] == 4
    per_seed_step = 2 * (14 + 31 + 70 + 160 + 410) * 10**6
    assert whole["weights_bytes_to_download"] == 100 * per_seed_step - 4 * 2 * 14 * 10**6


def test_ingest_by_revision_resumes_after_kill_and_skips_done_units(hub, tmp_path, db_url):
    env = hub_env(hub, tmp_path, db_url)
    add_hub_corpus(env, tmp_path)
    n = rows(db_url, "SELECT n_positions FROM corpus WHERE name = 'tiny'")[0][0]

    # The first run stops for good inside the transaction of its 2nd unit; kill -9 it there.
    signal_file = tmp_path / "paused"
    proc = subprocess.Popen(
        [*COMMAND, "ingest", "pythia", "--corpus", "tiny", *SELECTION, "--no-progress"],
        env={**env, PAUSE_ENV: f"2:600:{signal_file}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not signal_file.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the ingest never reached its 2nd publish"
            time.sleep(0.2)
        os.kill(int(signal_file.read_text()), signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = rows(db_url, "SELECT unit_key FROM ingest_unit WHERE status = 'done'")
    assert done == [("size=14m/step=1",)]  # the last step publishes first (see units.plan_units); step 0 never did
    assert rows(db_url, "SELECT count(*) FROM checkpoint_token")[0][0] == 2 * n

    resumed = run_convdiv(["ingest", "pythia", "--corpus", "tiny", *SELECTION, "--no-progress"], env)
    assert "1 done, 1 skipped (already done)" in resumed.stdout
    assert "weights" in resumed.stdout and "free disk" in resumed.stdout and resumed.stderr.strip() == ""
    again = run_convdiv(["ingest", "pythia", "--corpus", "tiny", *SELECTION, "--no-progress"], env)
    assert "0 done, 2 skipped (already done)" in again.stdout

    # Every checkpoint: its revision and the sha256 of the weights file the Hub cache holds for that revision.
    ckpts = rows(
        db_url,
        "SELECT r.source, c.step, c.revision, c.weights_sha256 FROM checkpoint c JOIN run r "
        "USING (run_id) ORDER BY 1, 2",
    )
    assert [(src, step, rev) for src, step, rev, _ in ckpts] == [
        (f"EleutherAI/pythia-14m-seed{s}", t, f"step{t}") for s in (1, 3) for t in (0, 1)
    ]
    for src, _step, rev, sha in ckpts:
        assert sha == hashlib.sha256(snapshot_weights(hub, src, rev).read_bytes()).hexdigest()
    assert len({sha for *_, sha in ckpts}) == 4
    assert rows(db_url, "SELECT count(*) FROM checkpoint_token")[0][0] == 4 * n
    # seed pairs at both steps + consecutive steps 0 -> 1 for both seeds
    assert rows(db_url, "SELECT count(*) FROM pair_token")[0][0] == 4 * n


def test_missing_revision_is_warned_once_and_only_its_units_are_skipped(hub, tmp_path, db_url):
    gone = repo_dir(hub, "EleutherAI/pythia-14m-seed3")
    commit = (gone / "refs" / "step1").read_text().strip()
    shutil.rmtree(gone / "snapshots" / commit)
    (gone / "refs" / "step1").unlink()
    env = hub_env(hub, tmp_path, db_url)
    add_hub_corpus(env, tmp_path)
    proc = run_convdiv(
        ["ingest", "pythia", "--corpus", "tiny", "--sizes", "14m", "--seeds", "1,3", "--steps", "0,1", "--no-progress"],
        env,
    )
    warned = [line for line in (proc.stderr + proc.stdout).splitlines() if "step1" in line and "warning" in line]
    assert len(warned) == 1, proc.stderr + proc.stdout
    assert "EleutherAI/pythia-14m-seed3" in warned[0] and "size=14m/step=1" in warned[0]
    assert "1 done, 0 skipped (already done), 0 done by other workers, 0 failed, 1 missing a revision" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert rows(db_url, "SELECT unit_key, status FROM ingest_unit") == [("size=14m/step=0", "done")]
    # The checkpoints of the skipped unit were never registered.
    assert rows(db_url, "SELECT count(*) FROM checkpoint WHERE step = 1")[0][0] == 0


def test_cache_policy_evict_deletes_each_snapshot_once_its_units_are_done(hub, tmp_path, db_url):
    env = hub_env(hub, tmp_path, db_url)
    add_hub_corpus(env, tmp_path)
    seed1, seed3 = (repo_dir(hub, f"EleutherAI/pythia-14m-seed{s}") for s in (1, 3))
    before = {p for p in hub.rglob("*")}
    base = ["ingest", "pythia", "--corpus", "tiny", "--sizes", "14m", "--no-progress"]
    run_convdiv([*base, "--seeds", "1,3", "--steps", "0"], env)
    assert {p for p in hub.rglob("*")} == before  # keep is the default

    # Seed 1 at step 0 only: its step0 snapshot goes with its own blobs; the config blob step1 shares stays.
    step0_weights = snapshot_weights(hub, "EleutherAI/pythia-14m-seed1", "step0").resolve()
    run_convdiv([*base, "--seeds", "1", "--steps", "0", "--cache-policy", "evict"], env)
    assert not (seed1 / "refs" / "step0").exists() and (seed1 / "refs" / "step1").is_file()
    assert len(list((seed1 / "snapshots").iterdir())) == 1 and not step0_weights.exists()
    linked = {f.resolve() for f in (seed1 / "snapshots").rglob("*") if f.is_file()}
    assert set((seed1 / "blobs").iterdir()) == linked
    assert snapshot_weights(hub, "EleutherAI/pythia-14m-seed1", "step1").parent.joinpath("config.json").is_file()

    # Step 1 needs step 0 as its previous checkpoint, so step 0 must be on disk again: the offline cache no longer
    # has it, and the call says so in one line instead of computing half a unit.
    proc = run_convdiv([*base, "--seeds", "1", "--steps", "0,1", "--cache-policy", "evict"], env)
    assert "0 done" in proc.stdout and "2 missing a revision" in proc.stdout
    assert sorted(p.name for p in (seed1 / "refs").iterdir()) == ["step1"]

    # Seed 3 untouched by the seed-1 calls; evicting it after both its steps leaves an empty repository folder.
    assert sorted(p.name for p in (seed3 / "refs").iterdir()) == ["step0", "step1"]
    run_convdiv([*base, "--seeds", "3", "--steps", "0,1", "--cache-policy", "evict"], env)
    assert list((seed3 / "refs").iterdir()) == [] and list((seed3 / "blobs").iterdir()) == []
    assert list((seed3 / "snapshots").iterdir()) == []
    assert (repo_dir(hub, "EleutherAI/pythia-70m") / "refs" / "main").is_file()  # the tokenizer is not a checkpoint


RETRY_SCRIPT = """
import shutil, sys
from pathlib import Path
from convdiv.errors import ConvdivError
from convdiv.suites.loading import load_checkpoint
from convdiv.suites.spec import pythia_spec

ref = pythia_spec().checkpoints(sizes="14m", seeds=1, steps=1)[0]
weights = Path(sys.argv[1])
blob = weights.resolve()
saved = blob.with_name("saved")
shutil.move(blob, saved)  # a dangling snapshot link: what an interrupted download leaves

def repair(message):
    print("RETRY", message.replace(chr(10), " "))
    shutil.move(saved, blob)

loaded = load_checkpoint(ref, retry_delay_s=0.01, on_retry=repair)
print("LOADED", loaded.weights_sha256)
blob.unlink()
try:
    load_checkpoint(ref, retry_delay_s=0.01, on_retry=lambda m: print("RETRY", m))
except ConvdivError as exc:
    print("ERROR", exc)
"""


def test_failed_download_is_retried_then_reported_in_one_line(hub, tmp_path):
    weights = snapshot_weights(hub, "EleutherAI/pythia-14m-seed1", "step1")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    proc = subprocess.run(
        [sys.executable, "-c", RETRY_SCRIPT, str(weights)],
        env=hub_env(hub, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert lines[0].startswith("RETRY checkpoint 14m/seed1/step1 (EleutherAI/pythia-14m-seed1@step1): attempt 1 of 3")
    assert lines[1] == f"LOADED {sha}"
    assert [line.split(":")[1].strip() for line in lines[2:4]] == [
        "attempt 1 of 3 failed (OSError",
        "attempt 2 of 3 failed (OSError",
    ]
    assert len(lines) == 5 and lines[4].startswith(
        "ERROR checkpoint 14m/seed1/step1 (EleutherAI/pythia-14m-seed1@step1): download failed after 3 attempts: "
    )
