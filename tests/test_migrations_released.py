"""Released migrations are never edited: each one's sha256 is recorded in migrations/RELEASED.sha256 when it is
released, and every migration file must be recorded (a new revision is released by adding its line)."""

from __future__ import annotations

import hashlib

from convdiv.warehouse.schema import MIGRATIONS_DIR


def _recorded() -> dict[str, str]:
    lines = (MIGRATIONS_DIR / "RELEASED.sha256").read_text(encoding="utf-8").splitlines()
    pairs = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {name: digest for digest, name in pairs}


def test_released_migrations_are_unchanged_and_every_migration_is_released():
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (MIGRATIONS_DIR / "versions").glob("*.py")}
    recorded = _recorded()
    assert len(recorded) >= 11
    assert sorted(set(recorded) - set(files)) == [], "a released migration was removed"
    assert [n for n, digest in recorded.items() if files[n] != digest] == [], "a released migration was edited"
    assert sorted(set(files) - set(recorded)) == [], (
        "release the new migration: sha256sum migrations/versions/<file> >> migrations/RELEASED.sha256"
    )
