"""Fault: an ingest started while another worker computes the same units. Exit 0 means every planned unit is done
in the warehouse when the command exits: the units the other live worker holds are waited for, with that worker
named (ingest run, host:pid); with --no-wait they are listed and the exit status is 3. The summary's counts add up
(to do = done here + done by others + failed + still running) and come from the ledger."""

from __future__ import annotations

import re

from convdiv.ingest.run import STILL_RUNNING_EXIT
from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line

ARGS = ["--sizes", "xs", "--steps", "0,1", "--no-progress"]
SUMMARY = re.compile(
    r"^ingest \S+ x \S+: (\d+) done, (\d+) skipped \(already done\), (\d+) done by other workers, (\d+) failed, "
    r"(\d+) missing a revision(?:, (\d+) still running on other workers)?$",
    re.M,
)


def _counts(stdout: str) -> tuple[int, ...]:
    m = SUMMARY.search(stdout)
    assert m, stdout
    return tuple(int(g or 0) for g in m.groups())


def test_units_another_worker_computes_are_waited_for_or_listed(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    first, pid = S.start_paused_ingest(db_url, suite_root, tmp_path, ARGS, "compute", 25)
    try:
        # --no-wait: nothing done, both units listed with the worker computing them, exit 3, ledger untouched
        before = S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'running'")
        proc = convdiv(
            "ingest",
            str(suite_root),
            "--corpus",
            S.CORPUS,
            *ARGS,
            "--no-wait",
            database_url=db_url,
            data_dir=tmp_path / "data",
        )
        assert proc.returncode == STILL_RUNNING_EXIT == 3, proc.stderr
        line = one_error_line(proc)
        assert "2 unit(s) are still being computed by other workers" in line and f":{pid})" in line, line
        assert "size=xs/step=0" in line and "without --no-wait" in line, line
        assert _counts(proc.stdout) == (0, 0, 0, 0, 0, 2), proc.stdout
        assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'running'") == before == 2

        # waiting (the default): the other worker is named while it computes; exit 0 once its units are done
        proc = convdiv(
            "ingest", str(suite_root), "--corpus", S.CORPUS, *ARGS, database_url=db_url, data_dir=tmp_path / "data"
        )
        assert proc.returncode == 0, proc.stderr
        assert re.search(
            rf"waiting for 2 unit\(s\) other workers are computing: size=xs/step=\d \(ingest run \d+ on "
            rf"\S+:{pid}\)",
            proc.stdout,
        ), proc.stdout
        assert _counts(proc.stdout) == (0, 0, 2, 0, 0, 0), proc.stdout
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        assert _counts(out) == (2, 0, 0, 0, 0, 0), out
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status <> 'done'") == 0
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * len(S.SEEDS) * n
