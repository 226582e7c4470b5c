"""The registration half of an ingest: a checked request resolved into a :class:`~convdiv.ingest.plan.Plan` whose
dimensions and ledger units exist in the warehouse.

:func:`prepare` takes a request that already checked its knobs (:mod:`convdiv.ingest.request`) and goes one way
through the steps below, each a function of this module: the devices and dtype on this machine
(:mod:`convdiv.ingest.devices`), the suite and its origin, the corpus (one lookup), the tokenizer they must share
(same sha256, same |V|), the units of the selection (:mod:`convdiv.ingest.units`) less those whose hub revision is
missing or (``--follow``) whose checkpoints are not complete, the context length (:mod:`convdiv.ingest.context_length`),
the fingerprints and configuration hashes (:mod:`convdiv.ingest.identity`), then the registration: the dimensions
(:func:`register_dimensions`: suite, model, run, checkpoint, comparison) and the ledger units. Each registration
statement commits by itself, so registering never holds a lock a publish of another ingest waits for (no deadlock,
issue 24). Last, the work groups' sizes (:mod:`convdiv.ingest.memory`). Workers only ever read the plan it returns.

Its queries are in ``sql/`` beside this module (``register.sql``, ``corpus.sql``, ``now.sql``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from psycopg.types.json import Jsonb

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.ingest.context_length import check_context_length, same_as_default
from convdiv.ingest.devices import resolve_device, resolve_devices, resolve_dtype
from convdiv.ingest.identity import checkpoint_fingerprint, config_hash
from convdiv.ingest.memory import group_limits
from convdiv.ingest.plan import DEFAULT_BATCH_TOKENS, ComputeOptions, Plan
from convdiv.ingest.request import IngestRequest
from convdiv.ingest.units import UnitPlan, parse_label, plan_units
from convdiv.textlimits import MAX_NAME_LENGTH, first_few, shown
from convdiv.warehouse import ledger, queries

Q = queries.beside(__file__)  # the ingest's own queries (convdiv/ingest/sql/)


def prepare(engine, settings: Settings, request: IngestRequest) -> Plan:
    """Resolve suite and corpus, check they match, register dimensions and ledger units; returns the plan.

    Hub checkpoints whose revision is missing (not on the Hub, or not in the cache when offline) are left out
    with the units that need them: ``Plan.missing_units`` and one warning per missing revision say which.
    ``request.name`` stores the suite under another name than its own (``--name``); a name already registered from
    another origin (folder or hub repository pattern) is refused before anything heavy is done.
    """
    devices = resolve_devices(request.device_list)
    device = resolve_device(request.device)
    dtype = resolve_dtype(request.dtype, device)
    spec, origin = resolve_suite(request, settings)
    info = ledger.conninfo(engine)
    with ledger.connect(info) as conn:
        check_suite_origin(conn, spec.name, origin)
        corpus = find_corpus(conn, request.corpus)
    tokenizer_sha = check_tokenizer(spec, corpus)
    selection = select_units(spec, request, corpus.vocab_size)
    window = corpus.window(request.context_length).check(selection.refs)
    fingerprints = {label: checkpoint_fingerprint(ref) for label, ref in selection.refs.items()}
    selection.warnings += _identical_weights(selection.refs, fingerprints)
    hashes = {
        u.key: config_hash(u, fingerprints, corpus.content_sha, window.context_length, window.stride, dtype)
        for u in selection.units
    }
    # Each statement commits by itself (autocommit): registration never holds one row lock while it waits for
    # another, so it cannot deadlock with a publish of another ingest (issue 24); every statement is idempotent.
    with ledger.connect(info, autocommit=True) as conn:
        suite_id, checkpoint_ids, comparison_ids = register_dimensions(
            conn, spec, origin, tokenizer_sha, selection.refs, fingerprints, selection.units
        )
        planned = register_units(conn, suite_id, corpus.corpus_id, selection.units, checkpoint_ids, hashes)
        started_at = conn.execute(Q["now"]).fetchall()[0][0]  # one row: the server's clock
    compute = ComputeOptions(
        device=device,
        dtype=dtype,
        batch_tokens=int(request.batch_tokens or DEFAULT_BATCH_TOKENS),  # None: the default (0 is refused)
        context_length=window.context_length,
        threads=max(1, (os.cpu_count() or 1) // request.workers) if device == "cpu" else None,
        window_stride=window.stride,
    )
    return Plan(
        conninfo=info,
        suite_name=spec.name,
        corpus_name=request.corpus,
        suite_id=suite_id,
        corpus_id=corpus.corpus_id,
        vocab_size=corpus.vocab_size,
        refs=selection.refs,
        checkpoint_ids=checkpoint_ids,
        comparison_ids=comparison_ids,
        units=planned,
        group_limit=_group_limit(planned, selection.refs, spec, compute, devices, request.memory_budget_gb),
        compute=compute,
        force_before=started_at if request.force else None,
        started_at=started_at,
        arguments=arguments(request, spec.name, compute, devices),
        warnings=selection.warnings,
        missing_units=selection.missing_units,
        cache_policy=request.cache_policy,
        devices=devices,
        waiting_units=selection.waiting_units,
    )


def resolve_suite(request: IngestRequest, settings: Settings):
    """The suite's spec (under ``--name`` when given) and its origin; ``--follow`` needs a local declared grid."""
    from convdiv.suites.spec import get_suite

    spec = get_suite(request.suite, settings)
    if request.follow:
        check_follow_suite(spec, request.suite)
    if request.name is not None:
        spec = replace(spec, name=request.name)
    if len(spec.name) > MAX_NAME_LENGTH:
        raise ConvdivError(
            f"suite name {shown(spec.name)} is longer than {MAX_NAME_LENGTH} characters: store it under a shorter "
            "one with --name"
        )
    return spec, suite_origin(spec)


def suite_origin(spec) -> str:
    """Where a suite comes from, the half of its identity besides its name (``suite.origin``).

    ``local:<folder>`` (resolved, so two spellings of one folder are one origin) or ``hub:<repository pattern>``
    with its per-seed overrides (migration 0006 computes the same string from stored specs). Two local folders
    with the same name are two origins: registering the second under the first's name is refused, never merged.
    """
    if spec.source == "local":
        return f"local:{Path(spec.root).expanduser().resolve()}"
    overrides = "".join(f"; seed {seed}: {template}" for seed, template in sorted(spec.repo_overrides))
    return f"hub:{spec.repo}{overrides}"


@dataclass
class Window:
    """The context length and stride the units are computed with, and where the length came from."""

    context_length: int | None
    stride: int | None
    given: int | None  # --context-length as given (None: the default)
    corpus_window: dict
    source: str  # what a too-long context length is blamed on

    def check(self, refs: dict) -> Window:
        """Checked against every local checkpoint, then, when an explicit length changes nothing, the default's
        (context_length, stride): the units' configuration hash is then that of the default."""
        check_context_length(self.context_length, refs.values(), self.source)
        same = same_as_default(self.given, self.corpus_window, refs.values())
        if same is not None:
            self.context_length, self.stride = same
        return self


@dataclass(frozen=True)
class Corpus:
    """What an ingest needs of its corpus (one lookup: ``sql/corpus.sql``)."""

    name: str
    corpus_id: int
    tokenizer_sha: str
    vocab_size: int
    content_sha: str
    options: dict

    def window(self, context_length: int | None) -> Window:
        """A corpus added with a window (`corpus add --preset study`) is evaluated with it unless the call names one."""
        window = self.options.get("window") or {}
        if context_length is not None:
            return Window(context_length, None, context_length, window, "--context-length")
        source = f"corpus {self.name!r}'s window length"
        return Window(window.get("context_length"), window.get("stride"), None, window, source)


def find_corpus(conn, name: str) -> Corpus:
    """The corpus named ``name``, or one line naming the loaded ones."""
    corpus_id, tokenizer_sha, vocab_size, content_sha, options, known = conn.execute(
        Q["corpus"], {"name": name}
    ).fetchone()
    if corpus_id is None:
        raise ConvdivError(
            f"unknown corpus {shown(name)} (loaded corpora: {first_few(known) or 'none'}; "
            "add one with `convdiv corpus add`)"
        )
    return Corpus(name, corpus_id, tokenizer_sha, vocab_size, content_sha, options or {})


def check_tokenizer(spec, corpus: Corpus) -> str:
    """The suite's tokenizer must be the corpus's (same sha256, same |V|); returns its sha256."""
    from convdiv.suites.loading import load_tokenizer
    from convdiv.vocab import tokenizer_fingerprint

    tokenizer = load_tokenizer(spec)
    suite_tok_sha = tokenizer_fingerprint(tokenizer)
    if suite_tok_sha != corpus.tokenizer_sha:
        raise ConvdivError(
            f"suite {spec.name!r} and corpus {corpus.name!r} use different tokenizers (sha256 {suite_tok_sha[:12]} vs "
            f"{corpus.tokenizer_sha[:12]}): add the corpus again with the suite's tokenizer {spec.tokenizer}"
        )
    if len(tokenizer) != corpus.vocab_size:
        raise ConvdivError(
            f"corpus {corpus.name!r} has |V| = {corpus.vocab_size} but suite {spec.name!r}'s tokenizer has "
            f"{len(tokenizer)}"
        )
    return suite_tok_sha


@dataclass
class Selection:
    """The units of the request's selection that can be computed now, the checkpoints they read, and the rest."""

    units: list[UnitPlan]
    refs: dict  # label -> CheckpointRef, of the units kept
    warnings: list[str] = field(default_factory=list)
    missing_units: dict[str, str] = field(default_factory=dict)  # unit key -> the missing hub revision
    waiting_units: dict[str, str] = field(default_factory=dict)  # --follow: unit key -> the incomplete checkpoint


def select_units(spec, request: IngestRequest, vocab_size: int) -> Selection:
    """The request's units, less those whose hub revision is missing and (``--follow``) those waiting for a
    checkpoint; every checkpoint they read is checked to be as wide as the tokenizer."""
    from convdiv.suites.loading import check_embedding_width, hub_revision_status

    sizes, seeds, steps = (request.selected(d) or None for d in ("sizes", "seeds", "steps"))
    units = plan_units(spec, sizes, seeds, steps, request.kinds)
    refs = {label: spec.ref(*parse_label(label)) for label in sorted({lb for u in units for lb in u.needs})}
    missing = hub_revision_status(refs.values()) if spec.source == "hub" else {}
    selection = Selection(units, refs)
    cores = os.cpu_count() or 1
    if request.workers > cores:
        selection.warnings.append(
            f"--workers {request.workers} exceeds this machine's {cores} CPU core(s): the workers will share them "
            "(slower than fewer workers); give at most --workers " + str(cores)
        )
    for label, why in missing.items():
        keys = [u.key for u in units if label in u.needs]
        selection.warnings.append(f"{why}: skipping unit(s) {', '.join(keys)}")
        for key in keys:
            selection.missing_units.setdefault(key, why)
    units = [u for u in units if u.key not in selection.missing_units]
    selection.waiting_units = incomplete_units(units, refs) if request.follow else {}
    selection.units = [u for u in units if u.key not in selection.waiting_units]  # a waiting unit's are not read
    selection.refs = {label: refs[label] for label in sorted({lb for u in selection.units for lb in u.needs})}
    check_embedding_width(selection.refs.values(), vocab_size, spec.tokenizer)
    return selection


def register_units(
    conn, suite_id: int, corpus_id: int, units: list[UnitPlan], checkpoint_ids: dict[str, int], hashes: dict[str, str]
) -> list[UnitPlan]:
    """The ledger rows of ``units`` (created if missing); returns the units with their ids, configuration hashes
    and the checkpoints whose rows each owns."""
    unit_ids = ledger.ensure_units(conn, suite_id, corpus_id, [u.key for u in units])
    ledger.reached("register")
    planned = []
    for unit in units:
        if unit.writes:
            # A size unit owns exactly the checkpoints it writes: a narrower --seeds selection recomputes those
            # and leaves the other seeds' rows (and their pairs) in place instead of dropping them.
            owned = [checkpoint_ids[label] for label in unit.writes]
        else:  # a cross-size unit owns the cross_size pairs of every checkpoint at its step
            params = {"suite_id": suite_id, "step": unit.step, "size": unit.size}
            owned = [r[0] for r in conn.execute(Q["owned_checkpoints"], params)]
        planned.append(
            replace(
                unit,
                unit_id=unit_ids[unit.key],
                config_hash=hashes[unit.key],
                owned_checkpoint_ids=tuple(sorted(owned)),
            )
        )
    return planned


def _identical_weights(refs: dict, fingerprints: dict[str, str]) -> list[str]:
    """One warning per set of checkpoints with identical local weights (hub checkpoints are named by revision)."""
    from convdiv.suites.loading import check_identical_weights

    return check_identical_weights((refs[label], fp) for label, fp in fingerprints.items() if "@" not in fp)


def _group_limit(units, refs, spec, compute: ComputeOptions, devices: tuple[str, ...], budget_gb) -> dict[str, int]:
    """Every worker claims groups of the same size: size them for the smallest of the devices' budgets."""
    group_limit: dict[str, int] = {}
    for dev in dict.fromkeys(devices or (compute.device,)):
        limits = group_limits(units, refs, spec, replace(compute, device=dev), budget_gb)
        group_limit = {k: min(v, group_limit.get(k, v)) for k, v in limits.items()}
    return group_limit


def arguments(request: IngestRequest, suite_name: str, compute: ComputeOptions, devices: tuple[str, ...]) -> dict:
    """The call's arguments as its ingest runs record them (``ingest_run.arguments``)."""
    return {
        "suite": suite_name,
        "corpus": request.corpus,
        "sizes": list(request.selected("sizes")),
        "seeds": list(request.selected("seeds")),
        "steps": list(request.selected("steps")),
        "comparisons": list(request.kinds),
        "device": compute.device,
        "dtype": compute.dtype,
        "batch_tokens": compute.batch_tokens,
        "context_length": compute.context_length,
        "window_stride": compute.window_stride,
        "workers": request.workers,
        "force": request.force,
        "cache_policy": request.cache_policy,
        "devices": list(devices),
    }


def incomplete_units(units: list[UnitPlan], refs: dict) -> dict[str, str]:
    """``--follow``: unit key -> ``needs <label>``, the first checkpoint it needs whose folder has no
    ``convdiv.complete`` marker yet (``suites.markers``); such a unit waits, it is neither planned nor failed."""
    from convdiv.suites.markers import checkpoint_complete

    complete = {label: checkpoint_complete(refs[label].path) for label in {lb for u in units for lb in u.needs}}
    waiting = {}
    for u in units:
        first = next((label for label in u.needs if not complete[label]), None)
        if first is not None:
            waiting[u.key] = f"needs {first}"
    return waiting


def register_dimensions(
    conn, spec, origin: str, tokenizer_sha256: str, refs: dict, fingerprints: dict[str, str], units: list[UnitPlan]
) -> tuple[int, dict[str, int], dict[tuple[str, str, str], int]]:
    """Upsert the suite, and the models, runs and checkpoints of ``refs`` and the comparisons of ``units``, in the
    caller's transaction; returns the suite id, the checkpoint ids by label and the comparison ids."""
    from convdiv.suites.safetensors import safetensors_param_count

    registered = conn.execute(
        Q["upsert_suite"],
        {
            "name": spec.name,
            "source": spec.source,
            "origin": origin,
            "tokenizer": spec.tokenizer,
            "tokenizer_sha256": tokenizer_sha256,
            "spec": Jsonb(spec.to_dict()),
        },
    ).fetchone()
    if registered is None:  # registered from another origin since the caller's check
        check_suite_origin(conn, spec.name, origin)
    suite_id = registered[0]
    model_ids, run_ids, checkpoint_ids = {}, {}, {}
    for label, ref in refs.items():
        if ref.size not in model_ids:
            n_params = safetensors_param_count(Path(ref.path)) if spec.source == "local" else None
            model_ids[ref.size] = conn.execute(
                Q["upsert_model"],
                {"suite_id": suite_id, "size": ref.size, "size_rank": spec.size_rank(ref.size), "n_params": n_params},
            ).fetchone()[0]
        if (ref.size, ref.seed) not in run_ids:
            run_ids[(ref.size, ref.seed)] = conn.execute(
                Q["upsert_run"], {"model_id": model_ids[ref.size], "seed": ref.seed, "source": ref.source}
            ).fetchone()[0]
        fp = fingerprints[label]
        checkpoint_ids[label] = conn.execute(
            Q["upsert_checkpoint"],
            {
                "run_id": run_ids[(ref.size, ref.seed)],
                "step": ref.step,
                "revision": ref.revision,
                "weights_sha256": fp if "@" not in fp else None,
            },
        ).fetchone()[0]
    comparison_ids = {}
    for unit in units:
        for comp in unit.comparisons:
            if comp not in comparison_ids:
                comparison_ids[comp] = ledger.insert_or_get(
                    conn,
                    Q["upsert_comparison"],
                    {"kind": comp[0], "checkpoint_a": checkpoint_ids[comp[1]], "checkpoint_b": checkpoint_ids[comp[2]]},
                )
    return suite_id, checkpoint_ids, comparison_ids


def check_suite_origin(conn, name: str, origin: str) -> None:
    """Refuse a suite name that is registered from another origin (its facts would be overwritten)."""
    row = conn.execute(Q["suite_origin"], {"name": name}).fetchone()
    if row is not None and row[0] != origin:
        stored = row[0] or "an unknown origin (written by hand)"
        raise ConvdivError(
            f"suite name {name!r} is already used by the suite from {stored}; this suite comes from {origin}: "
            f"store it under another name with `convdiv ingest ... --name NEW` (the stored suite is left as it is)"
        )


def check_follow_suite(spec, given: str) -> None:
    """``--follow`` watches a local folder whose grid is declared in a spec file (a scanned grid grows as seeds and
    steps appear, and every unit would be recomputed with each new seed)."""
    if spec.source != "local":
        raise ConvdivError(
            f"--follow watches a local suite folder as a training run writes it: {given!r} is a Hub suite "
            f"({spec.repo}); ingest it without --follow"
        )
    if not str(spec.origin).endswith(".toml"):
        raise ConvdivError(
            f"--follow needs the grid the training will write: {spec.root} has no suite.toml or training.toml; write "
            "one naming sizes, seeds and steps (see README, Your own suite) and follow that file"
        )
