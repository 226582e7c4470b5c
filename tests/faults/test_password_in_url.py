"""Fault: DATABASE_URL holds a password with URL delimiters (@ / : % # ? space), encoded or not.

convdiv reads URLs the way libpq does; `convdiv db url` and every connection error show no part of the password;
a URL libpq would split inside the password (an unencoded '@' or '/') is refused in one line that shows nothing of
it; a percent-encoded password reaches the server intact (also through the libpq string the ingest workers use).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict

from convdiv.config import Settings
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.warehouse import ledger
from convdiv.warehouse.engine import get_engine

PASSWORDS = ["p@ss/w0rdSECRET", "a:b#cSECRET", "50%offSECRET", "q?u&e=rySECRET", "with spaceSECRET", "plainSECRET"]


def _leaks(text: str, password: str) -> list[str]:
    pieces = [password, quote(password, safe=""), "SECRET"]
    return [p for p in pieces if p in text]


@pytest.mark.parametrize("password", PASSWORDS)
def test_db_url_masks_percent_encoded_passwords(tmp_path, password):
    url = f"postgresql://alice:{quote(password, safe='')}@db.example:5433/w?sslmode=prefer"
    proc = convdiv("db", "url", database_url=url, data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "postgresql+psycopg://alice:***@db.example:5433/w?sslmode=prefer"
    assert not _leaks(proc.stdout + proc.stderr, password)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:a@b/cSECRET@db.example/w",  # libpq: password 'a', host 'b', database 'cSECRET@db.example/w'
        "postgresql://u:a/bSECRET@db.example/w",  # libpq: host 'u', port 'a', database 'bSECRET@db.example/w'
        "postgresql://u:x@ySECRET@db.example/w",  # libpq: password 'x', host 'ySECRET@db.example'
        "postgresql://u:50%ofSECRET@db.example/w",  # invalid percent-encoding: libpq quotes the token in its error
        "postgresql://u@db.example/w?password=50%ofSECRET",
    ],
)
@pytest.mark.parametrize("command", [("db", "url"), ("db", "status")])
def test_ambiguous_or_invalid_password_is_refused_without_showing_it(tmp_path, url, command):
    proc = convdiv(*command, database_url=url, data_dir=tmp_path)
    line = one_error_line(proc)
    assert "DATABASE_URL" in line, line
    assert "SECRET" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("password", PASSWORDS)
def test_connection_error_shows_no_password(tmp_path, password):
    for url in (
        f"postgresql://alice:{quote(password, safe='')}@127.0.0.1:1/w",
        f"postgresql://alice@127.0.0.1:1/w?password={quote(password, safe='')}",
    ):
        proc = convdiv("db", "status", database_url=url, data_dir=tmp_path)
        line = one_error_line(proc)
        assert "127.0.0.1:1" in line, line
        assert not _leaks(proc.stdout + proc.stderr, password), line


def test_unencoded_colon_and_hash_are_read_as_libpq_reads_them(tmp_path):
    proc = convdiv("db", "url", database_url="postgresql://alice:a:b#cSECRET@db.example/w", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "postgresql+psycopg://alice:***@db.example/w"


def test_encoded_password_reaches_libpq_intact(db_url, tmp_path):
    """The test server trusts local logins, so the password is carried, not checked: what matters is that the
    engine and the workers' libpq string both hold exactly the password the URL encodes."""
    password = "p@ss/w:rd%x#y?z&q= sSECRET"
    host_part = db_url.split("@", 1)[1]
    settings = Settings.from_env(
        database_url=f"postgresql://postgres:{quote(password, safe='')}@{host_part}", data_dir=tmp_path
    )
    engine = get_engine(settings)
    assert engine.url.password == password
    assert conninfo_to_dict(ledger.conninfo(engine))["password"] == password
    proc = convdiv("corpus", "list", database_url=settings.database_url, data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SECRET" not in proc.stdout + proc.stderr


def test_default_compose_password_does_not_blank_convdiv_hints(tmp_path):
    """docker-compose.yml's default password is "convdiv": redaction must not turn every hint into `*** ...`."""
    proc = convdiv("db", "status", database_url="postgresql://convdiv:convdiv@127.0.0.1:1/convdiv", data_dir=tmp_path)
    line = one_error_line(proc)
    assert line.count("***") == 1 and "postgresql+psycopg://convdiv:***@127.0.0.1:1/convdiv" in line, line
    assert "convdiv's embedded server" in line, line
