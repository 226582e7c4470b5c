"""The test fixtures themselves: tests/data unpacks only what SHA256SUMS vouches for, and test databases are
independent copies of the session's migrated template."""

from __future__ import annotations

import lzma
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from convdiv.testing import data as fixture_data
from convdiv.warehouse import schema

DATA = Path(__file__).resolve().parent / "data"


def test_every_recorded_fixture_is_checked_in_and_nothing_else_is():
    recorded = fixture_data.recorded_sha256(DATA)
    present = {p.relative_to(DATA).as_posix().removesuffix(".xz") for p in DATA.rglob("*") if p.is_file()}
    assert present - {"README.md", "SHA256SUMS"} == set(recorded)


def test_a_changed_or_missing_fixture_is_refused(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DATA / "pile-sample", folder / "pile-sample")
    shutil.copy(DATA / "SHA256SUMS", folder / "SHA256SUMS")
    assert (fixture_data.unpack(folder, "pile-sample", tmp_path / "ok") / "token_ids.json").exists()

    counts = folder / "pile-sample" / "pile_validation_unigram_counts.npy.xz"
    data = bytearray(lzma.decompress(counts.read_bytes()))
    data[-1] ^= 1
    counts.write_bytes(lzma.compress(bytes(data)))
    with pytest.raises(fixture_data.FixtureError, match="pile_validation_unigram_counts.npy does not match"):
        fixture_data.unpack(folder, "pile-sample", tmp_path / "changed")
    counts.unlink()
    with pytest.raises(fixture_data.FixtureError, match="is missing"):
        fixture_data.unpack(folder, "pile-sample", tmp_path / "missing")
    with pytest.raises(fixture_data.FixtureError, match="no fixture 'nothing'"):
        fixture_data.unpack(folder, "nothing", tmp_path / "none")


@pytest.mark.parametrize("write", [True, False])
def test_each_test_database_is_a_fresh_copy_at_head(engine, write):
    """Run twice: the row the first run writes must not be seen by the second (nor reach the template)."""
    schema.require_current(engine)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM suite")).scalar_one() == 0
        if write:
            conn.execute(sa.text("INSERT INTO suite (name, source, tokenizer, spec) VALUES ('x', 'local', 't', '{}')"))
