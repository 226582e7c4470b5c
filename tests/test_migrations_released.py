"""Released migrations are never edited: each one's sha256 is recorded in migrations/RELEASED.sha256 when it is
released, and every migration file must be recorded (a new revision is released by adding its line). The frozen SQL
the migrations load (migrations/sql/<name>@<revision>.sql) is released with them, under the same rule."""

from __future__ import annotations

import hashlib

from convdiv.warehouse.schema import MIGRATIONS_DIR


def _recorded() -> dict[str, str]:
    lines = (MIGRATIONS_DIR / "RELEASED.sha256").read_text(encoding="utf-8").splitlines()
    pairs = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {name: digest for digest, name in pairs}


def _digests() -> dict[str, str]:
    """Every released kind of file, named as RELEASED.sha256 names it (relative to migrations/versions or to
    migrations for the frozen SQL)."""
    migrations = {p.name: p for p in (MIGRATIONS_DIR / "versions").glob("*.py")}
    frozen = {f"sql/{p.name}": p for p in (MIGRATIONS_DIR / "sql").glob("*.sql")}
    return {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in {**migrations, **frozen}.items()}


def _problems(files: dict[str, str], recorded: dict[str, str]) -> list[str]:
    problems = [f"{n}: a released file was removed" for n in sorted(set(recorded) - set(files))]
    problems += [f"{n}: a released file was edited" for n, d in recorded.items() if n in files and files[n] != d]
    problems += [
        f"{n}: not released: cd migrations/versions && sha256sum <file> >> ../RELEASED.sha256 (a migration), "
        "cd migrations && sha256sum sql/<name>@<revision>.sql >> RELEASED.sha256 (its frozen SQL)"
        for n in sorted(set(files) - set(recorded))
    ]
    return problems


def test_released_migrations_are_unchanged_and_every_migration_is_released():
    recorded = _recorded()
    assert len(recorded) >= 11
    assert _problems(_digests(), recorded) == []


def test_an_edited_or_unlisted_frozen_file_fails():
    files, recorded = _digests(), _recorded()
    frozen = sorted(n for n in files if n.startswith("sql/"))
    assert len(frozen) >= 40 and set(frozen) <= set(recorded), "every frozen SQL file is released"
    edited = {**files, frozen[0]: hashlib.sha256(b"-- edited\n").hexdigest()}
    assert _problems(edited, recorded) == [f"{frozen[0]}: a released file was edited"]
    unlisted = {**files, "sql/new_view@9999.sql": "0" * 64}
    assert [p.split(":")[0] for p in _problems(unlisted, recorded)] == ["sql/new_view@9999.sql"]
