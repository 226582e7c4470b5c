"""`convdiv ingest --follow` while the demo trainer writes its checkpoints (issue 22, part 4).

Real parts throughout: the demo trainer (``convdiv.testing.follow``: the demo's own training code on a tiny
configuration, paced by a gate file so the test decides when each checkpoint appears) in one process, `convdiv
ingest --follow` as a user runs it in another, real PostgreSQL, the report built in this one while the follow runs.
A half-written checkpoint folder (no ``convdiv.complete``, truncated files) sits where a checkpoint will be written:
it is never read (reading it would fail its unit), and the trainer's atomic rename replaces it. Each checkpoint is
ingested once: the units done by the two follow processes are disjoint and cover the grid, and the stored weights
hash is the sha256 (hashlib, here) of the file the trainer finally wrote. Every wait below has a deadline that fails
the test instead of hanging it; nothing asserts a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from convdiv.cli import main
from convdiv.testing import ingest as S
from convdiv.testing.cli import CONVDIV
from convdiv.testing.databases import libpq
from convdiv.testing.pause import COMMAND, PAUSE_ENV

DEADLINE_S = 240  # a hang guard: a wait that passes it fails the test


def _wait(ready, what: str, *procs: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not ready():
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[:4]} ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {DEADLINE_S} s")
        time.sleep(0.1)


def _units(db_url: str) -> dict[str, str]:
    with psycopg.connect(libpq(db_url)) as conn:
        return dict(conn.execute("SELECT unit_key, status FROM ingest_unit").fetchall())


def _start(args: list[str], env: dict, out: Path, name: str) -> subprocess.Popen:
    """A process whose output goes to files (read while it runs, never a full pipe)."""
    return subprocess.Popen(
        args, env=env, stdout=open(out / f"{name}.out", "w"), stderr=open(out / f"{name}.err", "w"), text=True
    )


def _follow_args(suite: str, command: tuple[str, ...] = (CONVDIV,)) -> list[str]:
    return [*command, "ingest", suite, "--corpus", S.CORPUS, "--follow", "--poll-seconds", "0.2", "--json"]


@pytest.mark.slow
def test_follow_ingests_each_checkpoint_once_as_the_trainer_writes(engine, db_url, tmp_path):
    from convdiv.report.build import build_report
    from convdiv.suites.spec import load_spec_file

    data, gate = tmp_path / "data", tmp_path / "gate"
    gate.write_text("0")
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(data)}
    trainer = _start([sys.executable, "-m", "convdiv.testing.follow", str(data), str(gate)], env, tmp_path, "trainer")
    root = data / "suites" / "follow-demo"
    _wait(lambda: (root / "training.toml").is_file(), "training.toml from the trainer", trainer)
    spec = load_spec_file(root / "training.toml")
    (size,) = spec.sizes
    units = {f"size={size}/step={t}" for t in spec.steps}
    S.add_tiny_corpus(engine, root)
    # A half-written checkpoint where seed 2's step 2 will be: truncated files and no marker.
    half = root / size / "seed2" / "step2"
    half.mkdir(parents=True)
    (half / "config.json").write_text('{"architectures": ["GPTNeoX')
    (half / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")

    first = _start(_follow_args(str(root / "training.toml")), env, tmp_path, "follow1")
    nothing_yet = f"0 unit(s) done, 3 waiting for checkpoints (size={size}/step=4 needs {size}/seed1/step4"
    _wait(lambda: nothing_yet in (tmp_path / "follow1.err").read_text(), "the first waiting line", first)
    gate.write_text("4")  # seed 1's three checkpoints and seed 2's step 0: the step-0 unit is ready
    _wait(lambda: _units(db_url).get(f"size={size}/step=0") == "done", "step-0 unit done", first, trainer)
    waiting_line = f"size={size}/step=2 needs {size}/seed2/step2"
    _wait(lambda: waiting_line in (tmp_path / "follow1.err").read_text(), "waiting line", first)
    assert _units(db_url) == {f"size={size}/step=0": "done"}  # the others wait: neither registered nor failed

    # The report is built (in a thread: the machine is shared) from what the running follow has published so far.
    report = ThreadPoolExecutor(max_workers=1).submit(build_report, engine, tmp_path / "report.html")
    first.send_signal(signal.SIGTERM)  # stopped with two units waiting: status 4, the summary says which
    assert first.wait(timeout=DEADLINE_S) == 4
    err1 = (tmp_path / "follow1.err").read_text()
    assert err1.splitlines()[-1].startswith("convdiv: error: stopped by SIGTERM: 1 unit(s) done while following, 2")
    assert "Traceback" not in err1
    out1 = json.loads((tmp_path / "follow1.out").read_text())
    assert out1["units_waiting"] == 2 and set(out1["waiting_units"]) == units - {f"size={size}/step=0"}
    done1 = [u["unit"] for u in out1["units"] if u["status"] == "done"]

    gate.write_text("6")  # the rest: seed 2's steps 2 (replacing the half-written folder) and 4; suite.toml
    assert trainer.wait(timeout=DEADLINE_S) == 0, (tmp_path / "trainer.err").read_text()
    assert (half / "convdiv.complete").is_file()
    result = report.result(timeout=DEADLINE_S)
    assert (tmp_path / "report.html").is_file() and not [s for s in result.sections if s.error]
    with psycopg.connect(libpq(db_url)) as conn:  # nothing published since: the step-0 unit's facts only
        steps = conn.execute("SELECT DISTINCT step FROM expected_kl WHERE kind = 'seed_pair'").fetchall()
    assert steps == [(0,)]

    # The second follow (the folder this time) is stopped while it computes: its group finishes and is published.
    pause = tmp_path / "paused"
    second = _start(
        _follow_args(str(root), tuple(COMMAND)), {**env, PAUSE_ENV: f"compute@1:{DEADLINE_S}:{pause}"}, tmp_path, "f2"
    )
    _wait(pause.exists, "the second follow computing", second)
    second.send_signal(signal.SIGTERM)
    _wait(lambda: "SIGTERM: stopping once" in (tmp_path / "f2.err").read_text(), "the stop notice", second)
    pause.unlink()
    assert second.wait(timeout=DEADLINE_S) == 0, (tmp_path / "f2.err").read_text()
    out2 = json.loads((tmp_path / "f2.out").read_text())
    done2 = [u["unit"] for u in out2["units"] if u["status"] == "done"]
    assert out2["units_waiting"] == 0 and out2["units_skipped"] == 1

    assert sorted(done1 + done2) == sorted(units)  # each unit done once, by one of the two
    assert _units(db_url) == dict.fromkeys(units, "done")
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == len(spec.seeds) * len(spec.steps) * n
    with psycopg.connect(libpq(db_url)) as conn:
        stored = conn.execute(
            "SELECT c.weights_sha256 FROM checkpoint c JOIN run r USING (run_id) WHERE r.seed = 2 AND c.step = 2"
        ).fetchone()[0]
    assert stored == hashlib.sha256((half / "model.safetensors").read_bytes()).hexdigest()


def _main(capsys, monkeypatch, args):
    monkeypatch.setattr(sys, "argv", ["convdiv", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_follow_refuses_what_it_cannot_follow(db_url, suite_root, tmp_path, capsys, monkeypatch):
    """One line each, nothing registered: a Hub suite, a folder whose grid is not declared, more than one worker,
    --poll-seconds without --follow, a demo suite that is not being trained."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CONVDIV_DATA_DIR", str(tmp_path / "data"))
    cases = [
        (["pythia", "--follow"], "is a Hub suite"),
        ([str(suite_root), "--follow"], "has no suite.toml or training.toml"),
        ([str(suite_root), "--follow", "--workers", "2"], "--follow runs one worker"),
        ([str(suite_root), "--poll-seconds", "1"], "add --follow"),
        (["demo-quick", "--follow"], "is not being trained"),
    ]
    for args, expected in cases:
        status, lines = _main(capsys, monkeypatch, ["ingest", *args[:1], "--corpus", "c", "--no-progress", *args[1:]])
        assert status == 1 and len(lines) == 1 and expected in lines[0], (args, lines)
        assert lines[0].startswith("convdiv: error:") and "Traceback" not in lines[0]
    with psycopg.connect(libpq(db_url)) as conn:
        assert conn.execute("SELECT (SELECT count(*) FROM suite) + (SELECT count(*) FROM ingest_unit)").fetchone() == (
            0,
        )


def test_a_stop_before_any_claim_leaves_units_waiting_not_failed(engine, settings, db_url, suite_root):
    """What a signal does between claims: nothing more is claimed, and the units not computed are pending again,
    counted as waiting (exit 4 under --follow), never as failed."""
    from convdiv.ingest.request import IngestRequest
    from convdiv.ingest.run import run

    S.add_tiny_corpus(engine, suite_root)
    request = IngestRequest(str(suite_root), S.CORPUS, sizes="xs", steps="0,1")
    summary = run(engine, settings, request, progress=False, should_stop=lambda: True)
    assert (summary.units_done, summary.units_failed, summary.units_total) == (0, 0, 2)
    assert summary.waiting_units == dict.fromkeys(["size=xs/step=1", "size=xs/step=0"], "given back when told to stop")
    assert _units(db_url) == {"size=xs/step=0": "pending", "size=xs/step=1": "pending"}
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 0


def test_readme_follow_example_is_a_grid_follow_accepts(tmp_path):
    """The README's --follow example: its suite.toml is what following a folder reads, and its trainer snippet writes
    the marker that makes a checkpoint complete."""
    from convdiv.config import Settings
    from convdiv.ingest.follow import follow_source
    from convdiv.ingest.register import check_follow_suite
    from convdiv.suites.markers import COMPLETE_MARKER, checkpoint_complete
    from convdiv.suites.spec import get_suite

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**A local multi-seed training run") :]
    toml = section[section.index("```toml\n") + 8 : section.index("```\n", section.index("```toml"))]
    snippet = section[section.index("```python\n") : section.index("```\n", section.index("```python"))]
    root = tmp_path / "my-run"
    root.mkdir()
    (root / "suite.toml").write_text(toml, encoding="utf-8")
    settings = Settings.from_env(data_dir=tmp_path / "data")
    source = follow_source(str(root), settings)
    assert source == str(root / "suite.toml")
    spec = get_suite(source, settings)
    check_follow_suite(spec, source)  # raises when following it would be refused
    assert spec.seeds == (1, 2, 3, 4, 5) and spec.root == str(root.resolve())
    step = root / "160m" / "seed1" / "step0"
    step.mkdir(parents=True)
    assert not checkpoint_complete(step)
    assert f'"{COMPLETE_MARKER}"' in snippet
    (step / COMPLETE_MARKER).touch()
    assert checkpoint_complete(step)
    # `convdiv ingest demo --follow` while `convdiv suite train demo` runs: the grid it wrote first, then suite.toml
    demo = settings.suites_dir / "demo"
    demo.mkdir(parents=True)
    (demo / "training.toml").write_text(toml, encoding="utf-8")
    assert follow_source("demo", settings) == str(demo / "training.toml")
    (demo / "suite.toml").write_text(toml, encoding="utf-8")
    assert follow_source("demo", settings) == str(demo / "suite.toml")
