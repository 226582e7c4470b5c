"""The report on a warehouse filled by the real pipeline: spaCy-tagged corpus, random-init local suite, ingest.

No synthetic numbers here: positions come from the corpus stage and facts from the extract engine, so this checks
that every section draws from what a real ingest writes (and that the report's names match the views').
"""

from __future__ import annotations

import pandas as pd
import pytest

from convdiv.ingest.run import ingest
from convdiv.report.build import build_report
from convdiv.testing import ingest as S
from convdiv.testing.browser import open_report

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_report_after_real_ingest(engine, settings, suite_root, chromium, artifacts, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    ingest(engine, settings, str(suite_root), S.CORPUS, comparisons="seed_pairs,consecutive_steps", progress=False)
    result = build_report(engine, tmp_path / "real.html")
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    for key, sec in sections.items():
        if key == "divergence-stability":  # the tiny suite's divergence peak is its last step: said, not drawn
            assert sec.missing is not None and sec.missing.startswith("no late phase") and not sec.figures
            continue
        if key == "word-ce":  # one tokenization of the corpus: CE by word across tokenizers is said, not drawn
            assert sec.missing is not None and "is the only tokenization" in sec.missing and not sec.figures
            continue
        assert sec.missing is None, (key, sec.missing)
        assert sec.figures, key
    assert result.scope.corpus == S.CORPUS and result.scope.sizes == list(S.SIZES)
    curve = sections["convergence"].figures[0].data
    assert sorted(curve["step"].unique()) == list(S.STEPS)
    assert (curve["mean_kl"] >= 0).all() and (curve["n_comparisons"] == 3).all()
    overview = sections["overview"].tables[0].frame.set_index("item")["value"]
    assert overview["checkpoints with data"] == f"{len(S.SIZES) * len(S.SEEDS) * len(S.STEPS)} of 24"
    assert "cpu" in overview["devices"]
    regression = sections["regression"].tables[0].frame
    assert list(regression["step"]) == list(S.STEPS) and (regression["r2"].between(0, 1)).all()

    # The same report in Chromium: every figure drawn, no console error, nothing fetched.
    def check(page, errors, requests):
        for sec in result.sections:
            for fig in sec.figures:
                assert page.locator(f"div#fig-{fig.key} .main-svg").count() >= 1, fig.key
        page.screenshot(path=str(artifacts / "report-real-ingest.png"), full_page=True)
        assert errors == [] and requests == [result.path.resolve().as_uri()]
        return True

    assert open_report(result.path, chromium, check)

    # An extra `--comparisons cross_size` ingest leaves the CE fits alone: they pool consecutive steps only.
    fits = {key: sections[key].tables[0].frame for key in ("ce-fit", "ce-fit-context")}
    ingest(engine, settings, str(suite_root), S.CORPUS, comparisons="cross_size", progress=False)
    with engine.connect() as conn:
        assert "cross_size" in conn.exec_driver_sql("SELECT DISTINCT kind FROM comparison").scalars().all()
    again = {s.key: s for s in build_report(engine, tmp_path / "again.html").sections}
    for key, before in fits.items():
        after = again[key].tables[0].frame
        assert len(before) > 5
        pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
