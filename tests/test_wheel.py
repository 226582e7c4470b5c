"""The package installs: a wheel built from the repository carries the migrations and the analysis SQL, and the
installed (not editable) convdiv creates its schema and answers a view on a scratch database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _clean_source(tmp_path: Path) -> Path:
    """The repository's files that git tracks or would add (symlinks kept), in a fresh folder: setuptools never
    removes what an earlier build left in build/, so a file moved or deleted since would ship from a checkout's."""
    source = tmp_path / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for name in filter(None, tracked.decode().split("\0")):
        src, dst = ROOT / name, source / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree, not yet committed
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    return source


def test_wheel_installs_and_creates_its_schema(tmp_path, empty_db_url):
    dist = tmp_path / "dist"
    source = _clean_source(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source), "-w", str(dist)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(dist.glob("convdiv-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("convdiv/warehouse/migrations/versions/") and n.endswith(".py") for n in names)
    assert "convdiv/warehouse/analytics/views/expected_kl.sql" in names
    assert "convdiv/warehouse/analytics/upkeep/maintain_aggregates.sql" in names
    assert "convdiv/warehouse/migrations/sql/expected_kl@0002.sql" in names  # the frozen SQL the migrations load
    # installed into its own folder, which comes first on sys.path: the editable checkout is out of the way
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    script = (
        "import sys, convdiv\n"
        f"assert convdiv.__file__.startswith({str(target)!r}), convdiv.__file__\n"
        "from convdiv.cli import main\n"
        "sys.argv = ['convdiv', 'db', 'upgrade']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "import sqlalchemy as sa\n"
        f"e = sa.create_engine({empty_db_url!r})\n"
        "with e.connect() as c:\n"
        "    print(c.exec_driver_sql('SELECT count(*) FROM expected_kl').scalar())\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "DATABASE_URL": empty_db_url,
        "CONVDIV_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "0"
