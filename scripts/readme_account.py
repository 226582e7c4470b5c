"""Write the README's "What the demo shows" block from a demo run's warehouse (convdiv.report.account).

    bash scripts/demo.sh --quick                       # or an existing demo-quick warehouse
    .venv/bin/python scripts/readme_account.py         # DATABASE_URL, else the embedded warehouse of the demo

tests/test_demo.py runs the quick demo and fails when the block no longer says what that run computes: rerun this
script after changing the demo's training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import convdiv
from convdiv.report.account import account, replace_block

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="demo-quick", help="suite to describe [demo-quick]")
    ap.add_argument("--readme", type=Path, default=README)
    args = ap.parse_args()
    with convdiv.connect() as wh:
        block = account(wh.engine, suite=args.suite)
    args.readme.write_text(replace_block(args.readme.read_text(encoding="utf-8"), block), encoding="utf-8")
    print(block)


if __name__ == "__main__":
    main()
