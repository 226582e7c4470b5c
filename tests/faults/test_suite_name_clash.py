"""Fault: two local suites in different folders with the same folder name.

A suite's identity is its name AND its origin (the resolved folder, or the hub repository pattern): the second
folder under the first's name is refused in one line naming both origins and `--name`, the first suite's facts
and ledger stay exactly as they were, and `--name other` stores the second folder as a suite of its own.
"""

from __future__ import annotations

import shutil

import psycopg

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq

FACTS = (
    "SELECT s.name, m.size, r.seed, c.step, p.document, p.idx, ct.ce, ct.entropy, ct.kl_uniform, ct.kl_unigram"
    " FROM checkpoint_token ct JOIN checkpoint c USING (checkpoint_id) JOIN run r USING (run_id)"
    " JOIN model m USING (model_id) JOIN suite s USING (suite_id) JOIN position p USING (position_id)"
    " WHERE s.name = %s ORDER BY 2, 3, 4, 5, 6"
)
PAIRS = (
    "SELECT cmp.kind, ca.step, cb.step, p.idx, pt.kl_ab, pt.kl_ba FROM pair_token pt"
    " JOIN comparison cmp USING (comparison_id) JOIN checkpoint ca ON ca.checkpoint_id = cmp.checkpoint_a"
    " JOIN checkpoint cb ON cb.checkpoint_id = cmp.checkpoint_b JOIN run r ON r.run_id = cb.run_id"
    " JOIN model m USING (model_id) JOIN suite s USING (suite_id) JOIN position p USING (position_id)"
    " WHERE s.name = %s ORDER BY 1, 2, 3, 4, 5, 6"
)


def _state(db_url: str, name: str) -> dict:
    with psycopg.connect(libpq(db_url)) as conn:
        return {
            "facts": conn.execute(FACTS, (name,)).fetchall(),
            "pairs": conn.execute(PAIRS, (name,)).fetchall(),
            "suites": conn.execute("SELECT suite_id, name, origin, spec FROM suite ORDER BY suite_id").fetchall(),
            "units": conn.execute(
                "SELECT unit_id, suite_id, status, config_hash, finished_at FROM ingest_unit ORDER BY unit_id"
            ).fetchall(),
        }


def test_same_folder_name_elsewhere_is_refused_and_named_apart(engine, settings, db_url, suite_root, tmp_path):
    first = S.copy_suite(suite_root, tmp_path / "a" / "tiny")
    second = S.copy_suite(suite_root, tmp_path / "b" / "tiny")
    # Another experiment: its seed-1 run holds other weights at step 0, so its facts differ from the first's.
    shutil.copy(
        second / "xs" / "seed1" / "step1" / "model.safetensors", second / "xs" / "seed1" / "step0" / "model.safetensors"
    )
    S.add_tiny_corpus(engine, first)
    args = ["--corpus", S.CORPUS, "--sizes", "xs", "--steps", "0,1", "--no-progress"]
    summary = ingest(engine, settings, str(first), S.CORPUS, sizes="xs", steps="0,1", progress=False)
    assert summary.units_done == 2
    before = _state(db_url, "tiny")
    assert before["facts"] and before["pairs"]

    # The second folder under the same name: refused, naming both folders and the fix; nothing changes.
    proc = convdiv("ingest", str(second), *args, database_url=db_url, data_dir=tmp_path / "data")
    line = one_error_line(proc)
    assert "'tiny'" in line and str(first) in line and str(second) in line and "--name" in line
    assert _state(db_url, "tiny") == before

    # The first folder again (spelled another way) is the same suite: nothing to do.
    again = ingest(
        engine, settings, str(tmp_path / "b" / ".." / "a" / "tiny"), S.CORPUS, sizes="xs", steps="0,1", progress=False
    )
    assert (again.units_done, again.units_skipped) == (0, 2)

    # --name stores it as a suite of its own, next to the first, which stays as it was.
    proc = convdiv("ingest", str(second), *args, "--name", "other", database_url=db_url, data_dir=tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    after = _state(db_url, "tiny")
    assert after["facts"] == before["facts"] and after["pairs"] == before["pairs"]
    other = _state(db_url, "other")
    assert [(name, origin) for _, name, origin, _ in other["suites"]] == [
        ("tiny", f"local:{first}"),
        ("other", f"local:{second}"),
    ]
    assert len(other["facts"]) == len(before["facts"])
    # the guard is not vacuous: the second experiment's step-0 CE of seed 1 differs from the first's
    ce = {
        suite: {(r[2], r[3], r[4], r[5]): r[6] for r in _state(db_url, suite)["facts"]} for suite in ("tiny", "other")
    }
    changed = [k for k in ce["tiny"] if ce["tiny"][k] != ce["other"][k]]
    assert changed and all(seed == 1 and step == 0 for seed, step, _, _ in changed)


def test_empty_name_is_refused_before_anything(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    proc = convdiv(
        "ingest",
        str(suite_root),
        "--corpus",
        S.CORPUS,
        "--name",
        " ",
        "--no-progress",
        database_url=db_url,
        data_dir=tmp_path / "data",
    )
    assert "--name" in one_error_line(proc)
    assert S.count(db_url, "SELECT count(*) FROM suite") == 0
