"""Read the convergence curve of every suite into pandas: the notebook workflow of the README as a script.

Run it after `bash scripts/demo.sh` (embedded warehouse) or with DATABASE_URL set:

    .venv/bin/python examples/expected_kl.py

For each suite it prints its sizes, seeds and corpora, then E[KL] between seeds (the expected KL across seeds;
convergence = -E[KL]) with its 95% interval, step by step, for every size.
"""

import convdiv

with convdiv.connect() as wh:
    for suite in wh.suites().itertuples():
        print(
            f"suite {suite.suite}: sizes {', '.join(suite.sizes)}; seeds {', '.join(map(str, suite.seeds))}; "
            f"{len(suite.steps)} steps; corpora {', '.join(suite.corpora) or '(none ingested)'}"
        )
        curve = wh.view(
            "expected_kl",
            suite=suite.suite,
            kind="seed_pair",
            columns=["size", "size_rank", "step", "mean_kl", "ci_low", "ci_high"],
        )
        for row in curve.sort_values(["size_rank", "step"]).itertuples():
            print(f"{row.size} {row.step} {row.mean_kl:.6f} [{row.ci_low:.6f}, {row.ci_high:.6f}]")
