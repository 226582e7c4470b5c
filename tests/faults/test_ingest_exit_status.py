"""Fault: an ingest started while another worker computes the same units. Exit 0 means every planned unit is done
in the warehouse when the command exits: the units the other live worker holds are waited for, with that worker
named (ingest run, host:pid); with --no-wait they are listed and the exit status is 3. The summary's counts add up
(to do = done here + done by others + failed + still running) and come from the ledger."""

from __future__ import annotations

import re
import subprocess
import time

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


def _wait_until_waiting(db_url: str, proc: subprocess.Popen) -> None:
    """Until the second ingest's own worker has looked for work and finished (its ingest_run done, after the
    --no-wait call's): from then on it only waits for the first worker."""
    deadline = time.monotonic() + 300
    while S.count(db_url, "SELECT count(*) FROM ingest_run WHERE status = 'done'") < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the second ingest never got past its own worker"
        time.sleep(0.2)


def test_units_another_worker_computes_are_waited_for_or_listed(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    paused = tmp_path / "paused"  # deleting it ends the first worker's pause
    first, pid = S.start_paused_ingest(db_url, suite_root, tmp_path, ARGS, "compute", 600, signal_file=paused)
    waiting = None
    try:
        # --no-wait: nothing done, both units listed with the worker computing them, exit 3, ledger untouched
        before = S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'running'")
        proc = convdiv(
            "ingest", str(suite_root), "--corpus", S.CORPUS, *ARGS, "--no-wait", database_url=db_url,
            data_dir=tmp_path / "data",
        )  # fmt: skip
        assert proc.returncode == STILL_RUNNING_EXIT == 3, proc.stderr
        line = one_error_line(proc)
        assert "2 unit(s) are still being computed by other workers" in line and f":{pid})" in line, line
        assert "size=xs/step=0" in line and "without --no-wait" in line, line
        assert _counts(proc.stdout) == (0, 0, 0, 0, 0, 2), proc.stdout
        assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'running'") == before == 2

        # waiting (the default): the other worker is named while it computes; exit 0 once its units are done
        waiting = S.start_ingest(db_url, suite_root, tmp_path / "data", ARGS)
        _wait_until_waiting(db_url, waiting)
        paused.unlink()
        out, err = waiting.communicate(timeout=300)
        assert waiting.returncode == 0, err
        assert re.search(
            rf"waiting for 2 unit\(s\) other workers are computing: size=xs/step=\d \(ingest run \d+ on \S+:{pid}\)",
            out,
        ), out
        assert _counts(out) == (0, 0, 2, 0, 0, 0), out
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        assert _counts(out) == (2, 0, 0, 0, 0, 0), out
    finally:
        for p in (first, waiting):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status <> 'done'") == 0
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * len(S.SEEDS) * n
