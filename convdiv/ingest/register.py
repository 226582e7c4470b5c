"""The registration half of an ingest: a request resolved into a :class:`~convdiv.ingest.plan.Plan` whose dimensions
and ledger units exist in the warehouse.

:func:`prepare` checks the request (one line per bad knob, before anything is registered), resolves the suite and
the corpus and checks that they match (same tokenizer, same |V|, no model embedding narrower than |V|), plans the
units of the selection, leaves out those whose hub revision is missing, fingerprints every checkpoint, then upserts
the dimensions (:func:`register_dimensions`: suite, model, run, checkpoint, comparison) and the ledger units with
their configuration hashes. Each registration statement commits by itself, so registering never holds a lock a
publish of another ingest waits for (no deadlock, issue 24). Workers only ever read the plan it returns.

The upserts are the warehouse's queries (``convdiv/warehouse/sql/ingest.sql``, through ``ledger.q``); the few
queries of this layer are in ``sql/`` beside this module.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from psycopg.types.json import Jsonb

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.ingest.plan import (
    CACHE_POLICIES,
    DEFAULT_BATCH_TOKENS,
    ComputeOptions,
    Plan,
    UnitPlan,
    check_arguments,
    check_context_length,
    check_suite_name,
    checkpoint_fingerprint,
    config_hash,
    group_limits,
    parse_comparisons,
    parse_label,
    plan_units,
    resolve_device,
    resolve_devices,
    resolve_dtype,
    same_as_default,
    split_list,
    suite_origin,
)
from convdiv.ingest.request import IngestRequest
from convdiv.textlimits import MAX_NAME_LENGTH, first_few, shown
from convdiv.warehouse import ledger, queries
from convdiv.warehouse.ledger import q  # the warehouse's queries (dimension upserts, ledger units)

Q = queries.beside(__file__)  # this layer's own queries (convdiv/ingest/sql/)


def prepare(engine, settings: Settings, request: IngestRequest) -> Plan:
    """Resolve suite and corpus, check they match, register dimensions and ledger units; returns the plan.

    Hub checkpoints whose revision is missing (not on the Hub, or not in the cache when offline) are left out
    with the units that need them: ``Plan.missing_units`` and one warning per missing revision say which.
    ``request.name`` stores the suite under another name than its own (``--name``); a name already registered from
    another origin (folder or hub repository pattern) is refused before anything heavy is done.
    """
    from convdiv.suites.loading import (
        check_embedding_width,
        check_identical_weights,
        hub_revision_status,
        load_tokenizer,
    )
    from convdiv.suites.spec import get_suite
    from convdiv.vocab import tokenizer_fingerprint

    corpus = request.corpus
    check_arguments(
        batch_tokens=request.batch_tokens,
        workers=request.workers,
        context_length=request.context_length,
        memory_budget_gb=request.memory_budget_gb,
    )
    check_suite_name(request.name)
    ledger.lease_seconds()  # a bad CONVDIV_LEASE_SECONDS is refused before anything is registered
    comparisons = parse_comparisons(request.comparisons)
    cache_policy = request.cache_policy
    if cache_policy not in CACHE_POLICIES:
        raise ConvdivError(f"--cache-policy must be one of {', '.join(CACHE_POLICIES)}, not {cache_policy!r}")
    workers, device = request.workers, request.device
    device_list = resolve_devices(request.devices) if request.devices else ()
    if device_list:
        if int(workers) not in (1, len(device_list)):
            raise ConvdivError(
                f"--workers {workers} and --devices {','.join(device_list)} disagree: --devices runs "
                "one worker per listed device (repeat a device for more workers on it)"
            )
        workers, device = len(device_list), device_list[0]
    device = resolve_device(device)
    dtype = resolve_dtype(request.dtype, device)
    if request.follow:
        check_follow(request)
    elif request.poll_seconds is not None:
        raise ConvdivError(
            "--poll-seconds is how often --follow looks at the suite folder: add --follow or leave it out"
        )
    spec = get_suite(request.suite, settings)
    if request.follow:
        check_follow_suite(spec, request.suite)
    if request.name is not None:
        spec = replace(spec, name=request.name.strip())
    if len(spec.name) > MAX_NAME_LENGTH:
        raise ConvdivError(
            f"suite name {shown(spec.name)} is longer than {MAX_NAME_LENGTH} characters: store it under a shorter "
            "one with --name"
        )
    origin = suite_origin(spec)
    info = ledger.conninfo(engine)
    with ledger.connect(info) as conn:
        check_suite_origin(conn, spec.name, origin)
        row = conn.execute(q("corpus_by_name"), {"name": corpus}).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute(Q["corpus_names"])]
            raise ConvdivError(
                f"unknown corpus {shown(corpus)} (loaded corpora: {first_few(known) or 'none'}; "
                "add one with `convdiv corpus add`)"
            )
        corpus_id, _, _, corpus_tok_sha, vocab_size, content_sha, _, _ = row
        options_row = conn.execute(q("corpus_options"), {"corpus_id": corpus_id}).fetchone()
        if options_row is None:
            raise ConvdivError(f"corpus {corpus!r} was removed while this ingest started")
        corpus_options = options_row[0] or {}
    # A corpus added with a window (`corpus add --preset study`) is evaluated with it unless the call names one.
    window = corpus_options.get("window") or {}
    context_length = request.context_length
    window_stride = window.get("stride") if context_length is None else None
    context_from = "--context-length" if context_length is not None else f"corpus {corpus!r}'s window length"
    context_length = context_length if context_length is not None else window.get("context_length")
    tokenizer = load_tokenizer(spec)
    suite_tok_sha = tokenizer_fingerprint(tokenizer)
    if suite_tok_sha != corpus_tok_sha:
        raise ConvdivError(
            f"suite {spec.name!r} and corpus {corpus!r} use different tokenizers (sha256 {suite_tok_sha[:12]} vs "
            f"{corpus_tok_sha[:12]}): add the corpus again with the suite's tokenizer {spec.tokenizer}"
        )
    if len(tokenizer) != vocab_size:
        raise ConvdivError(
            f"corpus {corpus!r} has |V| = {vocab_size} but suite {spec.name!r}'s tokenizer has {len(tokenizer)}"
        )

    units = plan_units(
        spec,
        split_list(request.sizes) or None,
        split_list(request.seeds) or None,
        split_list(request.steps) or None,
        comparisons,
    )
    refs = {}
    for label in sorted({label for u in units for label in u.needs}):
        size, seed, step = parse_label(label)
        refs[label] = spec.ref(size, seed, step)
    missing = hub_revision_status(refs.values()) if spec.source == "hub" else {}
    missing_units: dict[str, str] = {}
    warnings: list[str] = []
    cores = os.cpu_count() or 1
    if int(workers or 1) > cores:
        warnings.append(
            f"--workers {workers} exceeds this machine's {cores} CPU core(s): the workers will share them "
            "(slower than fewer workers); give at most --workers " + str(cores)
        )
    for label, why in missing.items():
        keys = [u.key for u in units if label in u.needs]
        warnings.append(f"{why}: skipping unit(s) {', '.join(keys)}")
        for key in keys:
            missing_units.setdefault(key, why)
    units = [u for u in units if u.key not in missing_units]
    waiting_units = incomplete_units(units, refs) if request.follow else {}
    units = [u for u in units if u.key not in waiting_units]  # nothing of a waiting unit's checkpoints is read
    labels = sorted({label for u in units for label in u.needs})
    refs = {label: refs[label] for label in labels}
    check_embedding_width(refs.values(), len(tokenizer), spec.tokenizer)
    check_context_length(context_length, refs.values(), context_from)
    context_length, window_stride = same_as_default(request.context_length, window, refs.values()) or (
        context_length,
        window_stride,
    )
    fingerprints = {label: checkpoint_fingerprint(ref) for label, ref in refs.items()}
    warnings += check_identical_weights((refs[label], fp) for label, fp in fingerprints.items() if "@" not in fp)

    batch_tokens = int(request.batch_tokens or DEFAULT_BATCH_TOKENS)  # None: the default (0 was refused above)
    workers = int(workers or 1)

    # Each statement commits by itself (autocommit): registration never holds one row lock while it waits for
    # another, so it cannot deadlock with a publish of another ingest (issue 24); every statement is idempotent.
    with ledger.connect(info, autocommit=True) as conn:
        suite_id, checkpoint_ids, comparison_ids = register_dimensions(
            conn, spec, origin, suite_tok_sha, refs, fingerprints, units
        )
        unit_ids = ledger.ensure_units(conn, suite_id, corpus_id, [u.key for u in units])
        ledger.test_pause("register")
        planned = []
        for unit in units:
            if unit.writes:
                # A size unit owns exactly the checkpoints it writes: a narrower --seeds selection recomputes those
                # and leaves the other seeds' rows (and their pairs) in place instead of dropping them.
                owned = [checkpoint_ids[label] for label in unit.writes]
            else:  # a cross-size unit owns the cross_size pairs of every checkpoint at its step
                owned = [
                    r[0]
                    for r in conn.execute(
                        q("owned_checkpoints"), {"suite_id": suite_id, "step": unit.step, "size": unit.size}
                    )
                ]
            planned.append(
                UnitPlan(
                    **{
                        **unit.__dict__,
                        "unit_id": unit_ids[unit.key],
                        "config_hash": config_hash(
                            unit, fingerprints, content_sha, context_length, window_stride, dtype
                        ),
                        "owned_checkpoint_ids": tuple(sorted(owned)),
                    }
                )
            )
        started_at = conn.execute(Q["now"]).fetchall()[0][0]  # one row: the server's clock
        force_before = started_at if request.force else None

    compute = ComputeOptions(
        device=device,
        dtype=dtype,
        batch_tokens=batch_tokens,
        context_length=context_length,
        threads=max(1, (os.cpu_count() or 1) // workers) if device == "cpu" else None,
        window_stride=window_stride,
    )
    # Every worker claims groups of the same size: size them for the smallest of the devices' budgets.
    group_limit: dict[str, int] = {}
    for dev in dict.fromkeys(device_list or (device,)):
        limits = group_limits(planned, refs, spec, replace(compute, device=dev), request.memory_budget_gb)
        group_limit = {k: min(v, group_limit.get(k, v)) for k, v in limits.items()}
    arguments = {
        "suite": spec.name,
        "corpus": corpus,
        "sizes": split_list(request.sizes),
        "seeds": split_list(request.seeds),
        "steps": split_list(request.steps),
        "comparisons": list(comparisons),
        "device": device,
        "dtype": dtype,
        "batch_tokens": batch_tokens,
        "context_length": context_length,
        "window_stride": window_stride,
        "workers": workers,
        "force": request.force,
        "cache_policy": cache_policy,
        "devices": list(device_list),
    }
    return Plan(
        conninfo=info,
        suite_name=spec.name,
        corpus_name=corpus,
        suite_id=suite_id,
        corpus_id=corpus_id,
        vocab_size=vocab_size,
        refs=refs,
        checkpoint_ids=checkpoint_ids,
        comparison_ids=comparison_ids,
        units=planned,
        group_limit=group_limit,
        compute=compute,
        force_before=force_before,
        started_at=started_at,
        arguments=arguments,
        warnings=warnings,
        missing_units=missing_units,
        cache_policy=cache_policy,
        devices=device_list,
        waiting_units=waiting_units,
    )


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
        q("upsert_suite"),
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
                q("upsert_model"),
                {"suite_id": suite_id, "size": ref.size, "size_rank": spec.size_rank(ref.size), "n_params": n_params},
            ).fetchone()[0]
        if (ref.size, ref.seed) not in run_ids:
            run_ids[(ref.size, ref.seed)] = conn.execute(
                q("upsert_run"), {"model_id": model_ids[ref.size], "seed": ref.seed, "source": ref.source}
            ).fetchone()[0]
        fp = fingerprints[label]
        checkpoint_ids[label] = conn.execute(
            q("upsert_checkpoint"),
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
                    "upsert_comparison",
                    {"kind": comp[0], "checkpoint_a": checkpoint_ids[comp[1]], "checkpoint_b": checkpoint_ids[comp[2]]},
                )
    return suite_id, checkpoint_ids, comparison_ids


def check_suite_origin(conn, name: str, origin: str) -> None:
    """Refuse a suite name that is registered from another origin (its facts would be overwritten)."""
    row = conn.execute(q("suite_origin"), {"name": name}).fetchone()
    if row is not None and row[0] != origin:
        stored = row[0] or "an unknown origin (written by hand)"
        raise ConvdivError(
            f"suite name {name!r} is already used by the suite from {stored}; this suite comes from {origin}: "
            f"store it under another name with `convdiv ingest ... --name NEW` (the stored suite is left as it is)"
        )


def check_follow(request: IngestRequest) -> None:
    """``--follow`` runs one worker that stops claiming when it is told to stop: the knobs it cannot honour are
    refused in one line before anything is done."""
    if request.devices or int(request.workers or 1) != 1:
        raise ConvdivError(
            "--follow runs one worker (a training run writes its checkpoints one after another): leave out --workers "
            "and --devices, or start a second `convdiv ingest --follow` for the same suite (the ledger shares the units)"
        )
    if not request.wait:
        raise ConvdivError("--follow waits for every unit by design: leave out --no-wait")
    if request.force:
        raise ConvdivError(
            "--follow does not recompute done units: run `convdiv ingest ... --force` first, then follow"
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
