"""`convdiv suite ...`: show what a suite spec resolves to, check a local suite, train the demo suite."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from convdiv.context import Context, pass_context
from convdiv.errors import ConvdivError


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _ints(value: str | None, what: str) -> list[int] | None:
    items = _csv(value)
    if items is None:
        return None
    try:
        return [int(v) for v in items]
    except ValueError:
        raise ConvdivError(f"--{what} must be a comma-separated list of integers, not {value!r}") from None


def _compact(values) -> str:
    values = list(values)
    return (
        ", ".join(str(v) for v in values)
        if len(values) <= 24
        else (
            ", ".join(str(v) for v in values[:12])
            + f", ... ({len(values) - 17} more) ..., "
            + ", ".join(str(v) for v in values[-5:])
        )
    )


@click.group("suite")
def suite() -> None:
    """Model suites: sizes x seeds x training steps (Pythia, PolyPythias, local folders, the demo)."""


@suite.command("show")
@click.argument("name")
@click.option("--sizes", default=None, help="Comma-separated sizes to select (default: all).")
@click.option("--seeds", default=None, help="Comma-separated seeds to select (default: all).")
@click.option("--steps", default=None, help="Comma-separated steps to select (default: all).")
@click.option("--list", "list_all", is_flag=True, help="List every checkpoint (path and revision).")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved spec as JSON.")
@pass_context
def show(obj: Context, name: str, sizes, seeds, steps, list_all: bool, as_json: bool) -> None:
    """Show what suite NAME resolves to: a built-in (pythia, polypythias), demo, a .toml file or a folder."""
    from convdiv.suites.spec import get_suite

    spec = get_suite(name, obj.settings)
    refs = spec.checkpoints(_csv(sizes), _ints(seeds, "seeds"), _ints(steps, "steps"))
    if as_json:
        from convdiv.suites.loading import disk_estimate

        disk = disk_estimate(refs)
        click.echo(
            json.dumps(
                {
                    **spec.to_dict(),
                    "checkpoints": len(refs),
                    "weights_bytes": disk.total_bytes,
                    "weights_bytes_to_download": disk.download_bytes,
                    "checkpoints_on_disk": disk.n_present,
                    "free_disk_bytes": disk.free_bytes,
                    "free_disk_at": str(disk.where),
                },
                indent=2,
            )
        )
        return
    out = Console()
    out.print(f"[bold]suite[/bold]     {spec.name}  ({spec.source}; from {spec.origin or 'spec'})")
    if spec.description:
        out.print(f"           {spec.description}")
    out.print(f"tokenizer  {spec.tokenizer}")
    sel_sizes = sorted({r.size for r in refs}, key=spec.sizes.index)
    sel_seeds = sorted({r.seed for r in refs})
    sel_steps = sorted({r.step for r in refs})
    out.print(f"sizes      {', '.join(sel_sizes)}  ({len(sel_sizes)})")
    out.print(f"seeds      {_compact(sel_seeds)}  ({len(sel_seeds)})")
    out.print(f"steps      {_compact(sel_steps)}  ({len(sel_steps)})")
    out.print(f"checkpoints {len(refs)}")
    if spec.revisions:  # branches no template fits: the [revisions] table, for the selected steps
        for step in sel_steps:
            out.print(f"revision   step {step}: {spec.branch(step)}", highlight=False, markup=False)
    from convdiv.suites.loading import disk_estimate

    for line in disk_estimate(refs).lines():
        out.print(line, highlight=False, markup=False)
    missing = [r for r in refs if spec.source == "local" and not Path(r.path).is_dir()]
    if missing:
        out.print(f"[yellow]missing on disk: {len(missing)}[/yellow] (first: {missing[0].path})")
    runs = Table("size", "seed", "checkpoints", title="runs")
    runs.add_column("source (run)", overflow="fold")
    for size in sel_sizes:
        for seed in sel_seeds:
            n = sum(1 for r in refs if r.size == size and r.seed == seed)
            runs.add_row(size, str(seed), str(n), spec.run_source(size, seed))
    out.print(runs)
    if spec.source == "hub" and refs:
        out.print(f"loaded as from_pretrained({refs[0].path!r}, revision={refs[0].revision!r})")
    if list_all:
        table = Table("checkpoint", "revision")
        table.add_column("path", overflow="fold")
        for r in refs:
            table.add_row(r.label, r.revision or "", r.path)
        out.print(table)


@suite.command("check")
@click.argument("name")
@pass_context
def check(obj: Context, name: str) -> None:
    """Load every checkpoint of local suite NAME: tokenizer, safetensors, weights sha256, identical steps."""
    from rich.progress import Progress

    from convdiv.suites.loading import check_identical_weights, load_checkpoint, load_tokenizer
    from convdiv.suites.spec import get_suite

    spec = get_suite(name, obj.settings)
    if spec.source != "local":
        raise ConvdivError(f"suite {spec.name!r} is a hub suite: `suite check` reads local suites only")
    tokenizer = load_tokenizer(spec)
    refs = spec.checkpoints()
    hashes = []
    nonfinite: list[str] = []
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("loading checkpoints", total=len(refs))
        for ref in refs:
            loaded = load_checkpoint(ref)
            hashes.append((ref, loaded.weights_sha256))
            nonfinite += loaded.warnings()
            bar.advance(task)
    warnings = nonfinite + check_identical_weights(hashes)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(
        f"suite {spec.name}: {len(refs)} checkpoints load; tokenizer |V| = {len(tokenizer)}; "
        f"{len(warnings)} warning(s) (non-finite or identical weights)"
    )


@suite.command("train")
@click.argument("name", type=click.Choice(["demo"]))
@click.option("--quick", is_flag=True, help="A tiny suite in seconds (for tests); stored as demo-quick.")
@click.option("--force", is_flag=True, help="Delete a finished suite and train it again.")
@click.option("--workers", type=int, default=None, help="Runs trained in parallel (default: up to 2 cores).")
@pass_context
def train(obj: Context, name: str, quick: bool, force: bool, workers: int | None) -> None:
    """Train the demo suite locally (GPT-NeoX on the bundled Austen novels); cached and resumable."""
    from convdiv.suites.demo import read_train_log, train_demo

    root = train_demo(obj.settings, quick=quick, progress=True, workers=workers, force=force)
    rows = read_train_log(root)
    first_seed = min(r["seed"] for r in rows)
    table = Table(
        "step",
        *(f"{size} train" for size in _sizes(rows)),
        *(f"{size} val" for size in _sizes(rows)),
        title=f"loss per checkpoint, seed {first_seed} (nats/token)",
    )
    by = {(r["size"], r["step"]): r for r in rows if r["seed"] == first_seed}
    for step in sorted({r["step"] for r in rows}):
        table.add_row(
            str(step),
            *(f"{by[(s, step)]['train_loss']:.3f}" for s in _sizes(rows)),
            *(f"{by[(s, step)]['val_loss']:.3f}" for s in _sizes(rows)),
        )
    Console().print(table)
    click.echo(f"suite {'demo-quick' if quick else 'demo'} ready: {root}")


def _sizes(rows) -> list[str]:
    seen = []
    for r in rows:
        if r["size"] not in seen:
            seen.append(r["size"])
    return seen
