"""The README's generated account: its block is found and replaced, and two accounts compare by their words, steps
and values (within the rounding a different CPU may give); on a synthetic warehouse it is the report's notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from convdiv.report.account import END, START, account, read_block, replace_block, same_account
from convdiv.testing.synthetic import build_synthetic_warehouse

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_has_one_generated_block():
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    assert read_block(text).startswith("`demo-quick` on ")
    assert replace_block(text, read_block(text)) == text
    assert read_block(replace_block(text, "- new")) == "- new"
    with pytest.raises(ValueError, match="no <!-- demo-account:start"):
        replace_block("no block here", "x")


def test_accounts_compare_by_words_steps_and_values():
    a = "- size 1m: E[KL] is 0.0123 nats at step 0; it peaks at 1.25 at step 512, 30% below"
    assert same_account(a, a)
    assert same_account(a, a.replace("0.0123", "0.0124").replace("1.25", "1.26"))  # last printed digit
    assert not same_account(a, a.replace("1.25", "1.4"))  # a different value
    assert not same_account(a, a.replace("step 512", "step 1000"))  # a different boundary
    assert not same_account(a, a.replace("peaks", "falls"))  # a different statement
    assert not same_account(a, a.replace("30%", "31%"))


def test_the_account_is_the_reports_computed_notes(engine):
    build_synthetic_warehouse(engine, n_positions=80, steps=(0, 1, 4, 16, 64, 256, 1000, 4000))
    text = account(engine)
    lines = text.splitlines()
    assert lines[0] == "`synthetic` on `synthetic-text`:"
    assert any(line.startswith("- size 14m: E[KL] across seeds is") for line in lines)
    assert any("KL to the unigram is lowest at step 256" in line for line in lines)
    assert any(line.startswith("- size 70m: the runs change most") for line in lines)
