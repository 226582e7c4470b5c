"""Fault: a second `convdiv ingest` of the same selection started while the first is registering its units,
computing, or inside a publish transaction (the stage where registration's ON CONFLICT DO UPDATE deadlocked with
maintain_aggregates: issue 24). Both exit 0, and every unit is done exactly once: the two summaries' "done" add up
to the units, each summary's counts add up to its own units to do."""

from __future__ import annotations

import re

import pytest

from convdiv.testing import ingest as S

SIZES, STEPS = ("xs", "s"), (0, 1, 4)
# one unit per claim (a tiny memory budget), so the two ingests share the work
ARGS = ["--sizes", ",".join(SIZES), "--steps", ",".join(map(str, STEPS)), "--memory-gb", "0.001", "--no-progress"]
SUMMARY = re.compile(
    r"^ingest \S+ x \S+: (\d+) done, (\d+) skipped \(already done\), (\d+) done by other workers, (\d+) failed, "
    r"0 missing a revision$",
    re.M,
)


@pytest.mark.parametrize("stage", ["register", "compute", "publish"])
def test_a_second_ingest_at_each_stage_of_the_first(engine, db_url, suite_root, tmp_path, stage):
    S.add_tiny_corpus(engine, suite_root)
    first, _ = S.start_paused_ingest(db_url, suite_root, tmp_path, ARGS, stage, 4)
    second = S.start_ingest(db_url, suite_root, tmp_path / "data", ARGS)
    outputs = []
    try:
        for proc in (first, second):
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            assert "deadlock" not in err
            outputs.append(out)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    units = len(SIZES) * len(STEPS)
    counts = []
    for out in outputs:
        m = SUMMARY.search(out)
        assert m, out
        done, skipped, elsewhere, failed = map(int, m.groups())
        assert failed == 0
        # (the second may start after the first finished some units: those are skipped, already done)
        assert done + skipped + elsewhere == units, out
        counts.append(done)
    assert sum(counts) == units, outputs  # every unit done by exactly one of the two
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'done'") == units
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == len(SIZES) * len(S.SEEDS) * len(STEPS) * n
    assert S.count(db_url, "SELECT count(*) FROM ingest_run WHERE status NOT IN ('done')") == 0
