"""Fault: text that is not text, or too much of it, given to `convdiv corpus add`.

A file of NUL bytes was accepted as a corpus (`added 1 documents, 4,999 positions`); a 50 MB single line ran for
minutes showing `tokenise: 0/1 documents`. Now control characters other than tab, newline and carriage return are
refused in one line naming the file and the byte offset, and more text than --max-text-mb is refused before the
file is read, naming the limit and the option; both before any tokenizer or tagger loads (the tokenizer given here
does not exist) and with nothing stored.
"""

from __future__ import annotations

import psycopg
import pytest

from convdiv.corpus import sources
from convdiv.errors import ConvdivError
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq

TEXTS = {
    "NUL bytes": (b"\x00" * 5_000, 0, "U+0000"),
    "escape after multibyte text": ("Łódź, 🙂 and tab\t, CR\r\n".encode() + b"\x1b[31m", 28, "U+001B"),
    "C1 control": (b"plain text " + "\u0085".encode(), 11, "U+0085"),
    "DEL": (b"abc\x7f", 3, "U+007F"),
}


def _corpus_add(db_url, tmp_path, *paths, extra=()):
    return convdiv(
        "corpus",
        "add",
        "c",
        "--tokenizer",
        str(tmp_path / "no-tokenizer"),
        *[a for p in paths for a in ("--text", str(p))],
        *extra,
        database_url=db_url,
        data_dir=tmp_path / "data",
    )


def _corpora(db_url):
    with psycopg.connect(libpq(db_url)) as conn:
        return conn.execute("SELECT count(*) FROM corpus").fetchone()[0]


@pytest.mark.parametrize("case", list(TEXTS))
def test_control_characters_are_refused_with_file_and_offset(db_url, tmp_path, case):
    data, offset, code = TEXTS[case]
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Some fine text first.\n" + data)
    line = one_error_line(_corpus_add(db_url, tmp_path, path))
    assert str(path) in line and f"byte offset {offset + 22:,}" in line and code in line, line
    assert _corpora(db_url) == 0


def test_tab_newline_and_carriage_return_are_text():
    sources.check_control_characters("a\tb\r\nc\n Łódź 🙂".encode(), "text")
    with pytest.raises(ConvdivError, match="byte offset 1"):
        sources.check_control_characters(b"a\x0cb", "text")  # form feed is a control character


def test_more_text_than_the_limit_is_refused_before_reading(db_url, tmp_path):
    big = tmp_path / "one-line.txt"
    big.write_bytes(b"word " * 1_200_000)  # 6 MB in one line, over the 5 MB default
    line = one_error_line(_corpus_add(db_url, tmp_path, big))
    assert "--max-text-mb 5" in line and "6.0 MB" in line and str(big) in line, line
    small = tmp_path / "small.txt"
    small.write_bytes(b"word " * 300_000)  # 1.5 MB: over a limit of 1 given explicitly
    line = one_error_line(_corpus_add(db_url, tmp_path, small, extra=("--max-text-mb", "1")))
    assert "--max-text-mb 1" in line, line
    # raised past the text's size, the next check is the (missing) tokenizer: the size was no longer the fault
    line = one_error_line(_corpus_add(db_url, tmp_path, small, extra=("--max-text-mb", "2")))
    assert "--max-text-mb" not in line and "no-tokenizer" in line, line
    assert _corpora(db_url) == 0


def test_a_long_corpus_name_is_refused(db_url, tmp_path):
    path = tmp_path / "fine.txt"
    path.write_text("fine text")
    proc = convdiv(
        "corpus", "add", "n" * 5_000, "--tokenizer", "t", "--text", str(path), database_url=db_url, data_dir=tmp_path
    )
    line = one_error_line(proc)
    assert "5,000 characters" in line and "at most 63" in line and len(line) < 300, line
