"""Training the demo suite into its folder: one trainer per folder (a file lock), the configuration cached beside
the runs, unfinished runs resumed, and ``suite.toml`` written last to mark the suite finished.

The grid being trained is written first, as ``training.toml`` (``suites.markers.TRAINING_SPEC``), so that an ingest
can follow the training while it writes (``convdiv ingest <root>/training.toml --follow``)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.suites.demo.checkpoints import DONE_FILE, LOG_FILE, read_run_log
from convdiv.suites.demo.config import DEMO, DEMO_QUICK, DemoConfig
from convdiv.suites.demo.model import size_labels
from convdiv.suites.demo.pool import run_jobs
from convdiv.suites.demo.tokenizer import ensure_tokenizer, token_streams
from convdiv.suites.markers import TRAINING_SPEC
from convdiv.suites.spec import DEMO_SUITES, SUITE_FILE, TOKENIZER_DIR, SuiteSpec, write_suite_file

CONFIG_FILE = "demo_config.json"


def train_demo(
    settings: Settings,
    quick: bool = False,
    progress: bool = True,
    *,
    workers: int | None = None,
    force: bool = False,
    config: DemoConfig | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train (or reuse) the demo suite and return its root folder.

    A finished suite with the same configuration is returned as is. An unfinished one resumes each run from its
    last checkpoint. ``force`` deletes and retrains a finished suite. ``workers`` runs that many training runs in
    parallel processes (default: 1 for the quick suite, else up to 2, one thread each). ``config`` overrides the built-in configuration
    (tests); ``stop_after`` stops every run after that many optimiser steps without finishing (tests of resume).
    """
    cfg = config or (DEMO_QUICK if quick else DEMO)
    root = settings.suites_dir / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        if not force and _is_finished(root, cfg):
            return root
        _prepare_root(root, cfg, force)
        tokenizer = ensure_tokenizer(root, cfg)
        train_ids, val_ids = token_streams(tokenizer, cfg)
        labels = size_labels(cfg, len(tokenizer))
        write_suite_file(_suite_spec(root, cfg, labels), root / TRAINING_SPEC)  # the grid, for --follow
        jobs = [(label, arch, seed) for label, arch in zip(labels, cfg.sizes) for seed in cfg.seeds]
        todo = [j for j in jobs if not (root / j[0] / f"seed{j[2]}" / DONE_FILE).exists()]
        # Parallel runs pay off only when training outweighs a spawned worker's import of torch (~5 s).
        default_workers = 1 if cfg.max_step * cfg.batch_size * cfg.seq_len < 200_000 else min(2, os.cpu_count() or 1)
        n_workers = max(1, min(workers or default_workers, len(todo) or 1))
        run_jobs(root, cfg, todo, train_ids, val_ids, len(tokenizer), n_workers, progress, stop_after)
        if stop_after is not None and stop_after < cfg.max_step:
            return root
        _finish(root, cfg, labels, jobs)
    return root


@contextlib.contextmanager
def _locked(root: Path):
    """One trainer per suite folder at a time (a second caller waits, then finds the suite finished)."""
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_config(root: Path) -> dict | None:
    path = root / CONFIG_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _is_finished(root: Path, cfg: DemoConfig) -> bool:
    if not (root / SUITE_FILE).is_file():
        return False
    if _read_config(root) != cfg.to_dict():
        raise ConvdivError(
            f"the suite at {root} was trained with a different configuration: "
            f"retrain with `{DEMO_SUITES.get(cfg.name, 'convdiv suite train demo')} --force` (or delete the folder)"
        )
    return True


def _prepare_root(root: Path, cfg: DemoConfig, force: bool) -> None:
    stored = _read_config(root)
    if force or (stored is not None and stored != cfg.to_dict()):
        # An unfinished suite of another configuration is a stale cache: nothing in it can be resumed.
        for child in root.iterdir():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    (root / CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")


def _finish(root: Path, cfg: DemoConfig, labels: list[str], jobs) -> None:
    rows = []
    for label, _, seed in jobs:
        rows.extend(read_run_log(root / label / f"seed{seed}"))
    (root / LOG_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_suite_file(_suite_spec(root, cfg, labels))  # last: its presence marks the suite finished


def _suite_spec(root: Path, cfg: DemoConfig, labels: list[str]) -> SuiteSpec:
    """The suite's grid: in ``training.toml`` when training starts, in ``suite.toml`` once it is finished."""
    return SuiteSpec(
        name=cfg.name,
        source="local",
        tokenizer=str(root / TOKENIZER_DIR),
        sizes=tuple(labels),
        seeds=tuple(cfg.seeds),
        steps=cfg.checkpoint_steps(),
        root=str(root),
        description=f"convdiv demo suite: GPT-NeoX trained on five Austen novels ({cfg.max_step} steps)",
    )
