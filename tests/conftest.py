"""Shared fixtures: real PostgreSQL databases, real tokenizers and suites, never mocks.

Databases live on ``CONVDIV_TEST_SERVER`` or ``DATABASE_URL`` if set, else the machine's PostgreSQL on
127.0.0.1:5432 (user postgres); the embedded server has its own tests (test_embedded.py). The schema is migrated
once per session into a template database; each test that asks for ``db_url`` gets a fresh copy of it, dropped
afterwards. Migration tests ask for ``empty_db_url`` (no schema).

Data files come from ``tests/data/`` only (see its README for provenance), never from outside the repository. The
builders behind these fixtures live in ``convdiv.testing``; test modules import from there, never from each other
or from this file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from convdiv.config import Settings
from convdiv.testing import browser, databases, warehouses
from convdiv.testing import data as fixture_data
from convdiv.testing import ingest as ingest_support

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


# ------------------------------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def migrated_template() -> str:
    """URL of a database migrated to head once per session; tests never connect to it, they get copies."""
    url = databases.create_migrated_template()
    yield url
    databases.drop_database(url)


@pytest.fixture
def empty_db_url() -> str:
    """A new, empty database (no schema)."""
    url = databases.create_database()
    yield url
    databases.drop_database(url)


@pytest.fixture
def db_url(migrated_template: str) -> str:
    """A new database at head (a copy of the session's migrated template)."""
    url = databases.create_migrated_database(migrated_template)
    yield url
    databases.drop_database(url)


@pytest.fixture
def engine(db_url: str):
    eng = sa.create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at a fresh migrated database and a private data dir."""
    return Settings.from_env(database_url=db_url, data_dir=tmp_path / "data")


# ----------------------------------------------------------------------------------------- data and suites


@pytest.fixture(scope="session")
def pythia_tokenizer(tmp_path_factory) -> str:
    """Folder of the real Pythia (GPT-NeoX-20B) tokenizer, loadable offline with ``AutoTokenizer``."""
    return str(fixture_data.unpack(DATA, "pythia-tokenizer", tmp_path_factory.mktemp("data")))


@dataclass(frozen=True)
class PileSample:
    """The study's evaluation text, its 4,663 Pythia token ids and the Pile validation unigram counts."""

    text: str
    ids: list[int]
    counts_path: Path
    counts: np.ndarray


@pytest.fixture(scope="session")
def pile_sample(tmp_path_factory) -> PileSample:
    folder = fixture_data.unpack(DATA, "pile-sample", tmp_path_factory.mktemp("data"))
    counts_path = folder / "pile_validation_unigram_counts.npy"
    return PileSample(
        text=(folder / "input_text.txt").read_text(encoding="utf-8"),
        ids=json.loads((folder / "token_ids.json").read_text(encoding="utf-8")),
        counts_path=counts_path,
        counts=np.load(counts_path, allow_pickle=False),
    )


@pytest.fixture(scope="session")
def suite_root(tmp_path_factory) -> Path:
    """The tiny random-init suite of the ingest tests, built once per session (read-only: copy it to damage it)."""
    return ingest_support.build_suite(tmp_path_factory.mktemp("suites") / "tiny")


@pytest.fixture(scope="module")
def small_warehouse(migrated_template, suite_root, tmp_path_factory) -> tuple[str, Path]:
    """(database URL, suite root): the tiny suite really ingested over the tiny corpus; one per test module."""
    url = databases.create_migrated_database(migrated_template, "convdiv_small")
    try:
        warehouses.fill_small_warehouse(url, suite_root, tmp_path_factory.mktemp("data"))
    except BaseException:
        databases.drop_database(url)
        raise
    yield url, suite_root
    databases.drop_database(url)


# ------------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; missing it fails in CI (CI=true) and skips locally."""
    if not browser.CHROMIUM.exists():
        message = f"{browser.CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return browser.CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The gitignored ``artifacts/`` folder where browser tests keep their screenshots for a human to look at."""
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path
