"""``add_corpus``: prepare a corpus and load it into the warehouse in one transaction.

Steps: tokenise each document -> frequency counts -> content hash -> (unless already present) spaCy tags,
alignment, position rows -> one transaction: lock the name, insert ``corpus``, COPY ``vocab_token``, lock the
position ids, COPY ``position`` (binary format), attach the corpus's partitions of the fact tables. A failure
anywhere rolls everything back: a corpus is fully present or absent.

Partitions (convdiv/warehouse/partitions.py): the fact tables hold one partition per corpus over its position-id
range. The position COPY runs under a global transaction-scoped advisory lock, so concurrent adds get disjoint,
contiguous ranges; the partitions are created and attached in the same transaction (ATTACH takes SHARE UPDATE
EXCLUSIVE on the fact tables: open readers neither block it nor are blocked). Removing a corpus drops its
partitions, last in its transaction; every lock wait is bounded (CONVDIV_LOCK_TIMEOUT, warehouse/locks.py).

Idempotence: ``content_sha256`` covers the documents, the tokenizer fingerprint, BOS/EOS, the spaCy model and
version, the frequency counts, the smoothing alpha, the tagset (when not 'ptb') and ``CORPUS_FORMAT``. Adding a
corpus whose hash equals the stored one is a no-op; a different corpus under an existing name is refused unless
``replace=True``, which deletes the old corpus and inserts the new one in the same transaction. Facts (checkpoint_token, pair_token: the
old corpus's partitions) and ingest units that referenced the old positions go with it.

Both answers come before any heavy work (tokenising a large corpus took minutes): ``corpus.options`` also
records ``documents_sha256`` (the documents and every setting above except the counts) and
``frequency_input`` (what the counts are computed from), which need no tokenising. Different documents or
settings mean different content: refused at once; the same ones and the same frequency input mean the same
content: a no-op at once. Only corpora added before these keys existed take the full path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import sqlalchemy as sa
from psycopg import sql

from convdiv import progress
from convdiv.corpus import frequency as freq
from convdiv.corpus.positions import COLUMNS as POSITIONS_IN_ORDER
from convdiv.corpus.positions import PositionTable, WordTable, build_positions, build_words, words_sha256
from convdiv.corpus.tagging import (
    BATCH_CHARS,
    TAGSETS,
    TagVocab,
    Words,
    check_upos,
    chunk_spans,
    load_tagger,
    mask_spans,
    resolve_model,
    tag_documents,
)
from convdiv.corpus.tokens import load_tokenizer, token_texts, tokenize_documents
from convdiv.errors import ConvdivError
from convdiv.textlimits import shown
from convdiv.vocab import tokenizer_fingerprint
from convdiv.warehouse import locks, partitions, queries
from convdiv.warehouse.engine import libpq_conninfo, psycopg_connection

# Bump when the rows produced for the same inputs change (alignment rules, columns), so re-adds are not no-ops.
CORPUS_FORMAT = 1
Q = queries.beside(__file__)
COPY_CHUNK_ROWS = 200_000

POSITION_COLUMNS = ("corpus_id", *POSITIONS_IN_ORDER)
POSITION_TYPES = (
    "int2",
    "int4",
    "int4",
    "int4",
    "int4",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bool",
    "bool",
    "int8",
    "int4",
)
TEXT_CODE_COLUMNS = ("pos_t", "pos_prev", "upos_t", "upos_prev", "group_t", "group_prev")
# Progress granularity: documents are tokenised and tagged in slices of about 1/PROGRESS_SLICES of the corpus
# (never below a few tagger batches, so spaCy's batching stays as efficient as in one call).
PROGRESS_SLICES = 50
TOKENIZE_SLICE_DOCS = 1024


@dataclass
class CorpusInfo:
    corpus_id: int
    name: str
    n_documents: int
    n_positions: int
    created: bool
    replaced: bool = False  # an older corpus of that name was deleted first
    facts_removed: int = 0  # fact rows on the old positions that went with it


def add_corpus(
    engine,
    name: str,
    *,
    tokenizer: str,
    documents: list[str],
    frequency_counts: np.ndarray | None = None,
    frequency_documents: list[str] | None = None,
    bos: bool = False,
    eos: bool = False,
    spacy_model: str | None = None,
    tagset: str = "ptb",
    replace: bool = False,
    source: str = "",
    alpha: float = freq.DEFAULT_ALPHA,
    frequency_label: str | None = None,
    options: dict | None = None,
) -> CorpusInfo:
    """Tokenise, tag and load ``documents`` as corpus ``name``; see the module docstring.

    frequency_counts: counts per token id (len(tokenizer)); frequency_documents: another text source tokenised
    like the corpus; neither: the corpus itself. frequency_label names the source in ``corpus.frequency_source``
    (e.g. the .npy path). options: extra provenance stored in ``corpus.options`` (e.g. files, separator).
    tagset: which tags become POS(t) and POS(t-1) (``pos_t``, ``pos_prev``): 'ptb', the pipeline's fine-grained
    ``tag_``, or 'upos', the Universal POS ``pos_`` (corpus/tagging.py); recorded in ``corpus.options``
    (corpus_summary.tagset).
    """
    _check_arguments(name, tagset, documents, frequency_counts, frequency_documents)
    tok = load_tokenizer(tokenizer)
    model_name, model_version = resolve_model(spacy_model)
    if frequency_counts is not None:
        frequency_counts = freq.validate_counts(frequency_counts, len(tok), frequency_label or "frequency counts")
    # What the content hash depends on, known without tokenising (see the module docstring).
    inputs = {
        "format": CORPUS_FORMAT,
        "tokenizer_sha256": tokenizer_fingerprint(tok),
        "bos": bos,
        "eos": eos,
        "spacy_model": model_name,
        "spacy_version": model_version,
        "alpha": alpha,
        **_tagset_input(tagset),
    }
    documents_sha = _content_hash(inputs, documents)
    frequency_input = _frequency_input(frequency_counts, frequency_documents)
    early = _compare_existing(engine, name, documents_sha, frequency_input, replace)
    if early is not None:
        return early
    # The tagger loads before any work (tagging is the slow part; done only when the corpus will be written), so
    # a pipeline that cannot give the tagset is refused at once.
    nlp = _load_tagger(model_name, tagset, documents[0])

    docs = _tokenize(tok, documents, bos=bos, eos=eos, what=f"corpus add {name}: tokenise")
    counts, frequency_source = _frequency_counts(
        tok, docs, frequency_counts, frequency_documents, frequency_label, bos=bos, eos=eos
    )
    content_sha = _content_hash({**inputs, "frequency_sha256": freq.counts_sha256(counts)}, documents)
    stored = _compare_stored(engine, name, content_sha, replace)
    if stored is not None:
        return stored

    tags = TagVocab()  # the tags' codes, shared by the tagging and the position rows
    words = _tag_words(nlp, documents, docs, tags, tagset, what=f"corpus add {name}: tag")
    tables = _Tables.build(tok, documents, docs, words, tags, counts, alpha)
    provenance = {
        **(options or {}),
        "bos": bos,
        "eos": eos,
        "unigram_alpha": alpha,
        "tagset": tagset,
        "source": source,
        "format": CORPUS_FORMAT,
        "documents_sha256": documents_sha,
        "frequency_input": frequency_input,
    }
    row = _corpus_row(name, tokenizer, inputs, content_sha, documents, words, tables, frequency_source, provenance)
    return _write_corpus(engine, row, tables, replace=replace)


def _load_tagger(model_name: str, tagset: str, sample: str):
    """The spaCy tagger; with tagset 'upos', checked on ``sample`` to give Universal POS."""
    nlp = load_tagger(model_name, tagset)
    if tagset == "upos":
        check_upos(nlp, model_name, sample)
    return nlp


def _compare_stored(engine, name: str, content_sha: str, replace: bool) -> CorpusInfo | None:
    """After tokenising: the no-op answer for an identical stored corpus, a refusal for a different one (unless
    ``replace``), else None."""
    existing = find_corpus(engine, name)
    if existing is None:
        return None
    if existing.content_sha256 == content_sha:
        return CorpusInfo(existing.corpus_id, name, existing.n_documents, existing.n_positions, created=False)
    if not replace:
        raise ConvdivError(
            f"corpus {name!r} already exists with different content; "
            f"use --replace to replace it (its facts will be deleted)"
        )
    return None


def _corpus_row(
    name: str,
    tokenizer: str,
    inputs: dict,
    content_sha: str,
    documents: list[str],
    words: list[Words],
    tables: _Tables,
    frequency_source: str,
    provenance: dict,
) -> dict:
    """The ``corpus`` row (insert_corpus.sql's parameters); ``provenance`` becomes ``corpus.options``."""
    tokenizer_path = Path(tokenizer).expanduser()
    return {
        "name": name,
        "tokenizer": str(tokenizer_path.resolve()) if tokenizer_path.exists() else tokenizer,
        "tokenizer_sha256": inputs["tokenizer_sha256"],
        "vocab_size": len(tables.texts),
        "content_sha256": content_sha,
        "n_documents": len(documents),
        "n_positions": len(tables.positions),
        "words_sha256": words_sha256(documents, words),
        "spacy_model": f"{inputs['spacy_model']} {inputs['spacy_version']}".strip(),
        "frequency_source": frequency_source,
        "options": json.dumps(provenance),
    }


def _check_arguments(name: str, tagset: str, documents, frequency_counts, frequency_documents) -> None:
    """What add_corpus refuses before loading anything: one line naming the argument at fault."""
    if not name or not name.strip():
        raise ConvdivError("corpus name must not be empty")
    if tagset not in TAGSETS:
        raise ConvdivError(f"unknown tagset {shown(tagset)}: choose {' or '.join(TAGSETS)}")
    if frequency_counts is not None and frequency_documents is not None:
        raise ConvdivError("give either frequency counts or a frequency corpus, not both")
    _check_documents(documents, "document")
    if frequency_documents is not None:
        _check_documents(frequency_documents, "frequency document")


def _frequency_counts(tok, docs, counts, documents, label: str | None, *, bos: bool, eos: bool):
    """(counts per token id, ``corpus.frequency_source``): the given counts, another corpus's, or the corpus's own."""
    if counts is not None:
        return counts, label or "counts array"
    if documents is not None:
        ids = (d.ids for d in tokenize_documents(tok, documents, bos=bos, eos=eos))
        return freq.count_tokens(ids, len(tok)), label or "frequency corpus"
    return freq.count_tokens((d.ids for d in docs), len(tok)), "self"


def _tag_words(nlp, documents: list[str], docs, tags: TagVocab, tagset: str, *, what: str) -> list[Words]:
    """Each document's spaCy words (special tokens masked out); with tagset 'upos' the Universal POS become the
    words' tags, hence pos_t / pos_prev (and their groups)."""
    masked = [
        mask_spans(text, d.offsets[d.special & (d.offsets[:, 1] > d.offsets[:, 0])].tolist())
        for text, d in zip(documents, docs)
    ]
    words = _tag(nlp, masked, tags, what=what)
    if tagset == "upos":
        words = [dataclasses.replace(w, tag=w.upos) for w in words]
    return words


@dataclass
class _Tables:
    """The rows add_corpus writes besides ``corpus``: positions, spaCy words, and the vocabulary."""

    positions: PositionTable
    words: WordTable
    texts: list[str]  # token id -> text
    counts: np.ndarray
    logq: np.ndarray  # smoothed unigram log-probability per token id

    @classmethod
    def build(cls, tok, documents: list[str], docs, words: list[Words], tags: TagVocab, counts, alpha: float):
        return cls(
            positions=build_positions(documents, docs, words, tags, counts),
            words=build_words(documents, docs, words),
            texts=token_texts(tok),
            counts=counts,
            logq=freq.unigram_logprob(counts, alpha),
        )


def _write_corpus(engine, row: dict, tables: _Tables, *, replace: bool) -> CorpusInfo:
    """One transaction: lock the name, replace or refuse a different corpus of that name (a concurrent add of the
    same one wins), insert ``corpus``, COPY its rows, attach its partitions."""
    name = row["name"]
    with _bounded_transaction(engine, f"corpus add {name!r}") as conn:
        conn.exec_driver_sql(Q["lock_corpus_name"], {"name": name})
        current = conn.exec_driver_sql(Q["find_corpus"], {"name": name}).first()
        facts_removed = 0
        if current is not None:
            if current.content_sha256 == row["content_sha256"]:  # a concurrent add of the same corpus won
                return CorpusInfo(current.corpus_id, name, current.n_documents, current.n_positions, created=False)
            if not replace:
                raise ConvdivError(f"corpus {name!r} already exists with different content; use --replace")
            facts_removed = _count_facts(conn, current.corpus_id)
            conn.exec_driver_sql(Q["delete_corpus"], {"corpus_id": current.corpus_id})
        corpus_id = conn.exec_driver_sql(Q["insert_corpus"], row).scalar_one()
        copy_vocab(conn, corpus_id, tables.texts, tables.counts, tables.logq)
        partitions.lock_position_ids(conn)  # held until COMMIT: this corpus's ids are one range
        table = tables.positions
        with progress.step(f"corpus add {name}: load", total=len(table), unit="positions") as bar:
            loaded = copy_positions(conn, corpus_id, table, on_rows=bar.advance)
        if loaded != len(table):
            raise ConvdivError(f"corpus {name!r}: COPY loaded {loaded} positions, expected {len(table)}")
        copy_words(conn, corpus_id, tables.words)
        partitions.attach(conn, corpus_id)
        if current is not None:  # last: its ACCESS EXCLUSIVE lock on the fact tables is held until COMMIT
            partitions.drop(conn, current.corpus_id)
    return CorpusInfo(
        corpus_id,
        name,
        row["n_documents"],
        len(table),
        created=True,
        replaced=current is not None,
        facts_removed=int(facts_removed),
    )


def remove_corpus(engine, name: str) -> int:
    """Delete a corpus and everything on it (its partitions of the fact tables are dropped); returns the number of
    fact rows that went with it."""
    with _bounded_transaction(engine, f"corpus remove {name!r}") as conn:
        conn.exec_driver_sql(Q["lock_corpus_name"], {"name": name})
        current = conn.exec_driver_sql(Q["find_corpus"], {"name": name}).first()
        if current is None:
            raise ConvdivError(f"no corpus named {shown(name)}")
        facts = _count_facts(conn, current.corpus_id)
        conn.exec_driver_sql(Q["delete_corpus"], {"corpus_id": current.corpus_id})
        partitions.drop(conn, current.corpus_id)  # last: see add_corpus
    return int(facts)


@contextmanager
def _bounded_transaction(engine, what: str):
    """A transaction whose every lock wait is bounded (warehouse/locks.py): a session holding what the command
    needs makes it stop with one line naming that session, and the transaction rolls back."""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                queries.WAREHOUSE["set_lock_timeout"], {"timeout": locks.lock_timeout_setting(), "local": True}
            )
            with locks.watch_blockers(conn.connection.driver_connection, libpq_conninfo(engine.url)):
                yield conn
    except (sa.exc.DBAPIError, psycopg.Error) as exc:  # psycopg's own: the partition DDL runs on the driver
        blocked = locks.lock_error(what, libpq_conninfo(engine.url), exc)
        if blocked is not None:
            raise blocked from exc
        raise


def _count_facts(conn, corpus_id: int) -> int:
    """The fact rows on the corpus's positions (read from its partitions only)."""
    bounds = partitions.position_range(conn, corpus_id)
    if bounds is None:
        return 0
    return int(conn.exec_driver_sql(Q["count_dependent_facts"], {"lo": bounds[0], "hi": bounds[1]}).scalar_one())


def list_corpora(engine) -> list:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(Q["list_corpora"]))


# ------------------------------------------------------------------------------------------------ COPY


def copy_vocab(conn, corpus_id: int, texts: list[str], counts: np.ndarray, logq: np.ndarray) -> int:
    with psycopg_connection(conn).cursor() as cur:
        with cur.copy(Q["copy_vocab"]) as copy:
            copy.set_types(["int2", "int4", "text", "int8", "float8"])
            for token_id, (text, count, lq) in enumerate(zip(texts, counts.tolist(), logq.tolist())):
                copy.write_row((corpus_id, token_id, text, count, lq))
        return cur.rowcount


def copy_positions(conn, corpus_id: int, table: PositionTable, chunk_rows: int = COPY_CHUNK_ROWS, on_rows=None) -> int:
    """COPY the position rows with psycopg's binary COPY (``set_types`` + ``write_row``); returns the rows loaded.

    psycopg encodes each row in C; loading 300k positions took 0.74-0.88x the time of the hand-written numpy
    encoder it replaced (same process, best of 3, two runs), so that encoder went. Columns become Python lists one
    chunk at a time, and text codes their strings by one list lookup (code -1 = NULL -> the trailing None).
    """
    n = len(table)
    strings = [*table.strings, None]
    with psycopg_connection(conn).cursor() as cur:
        names = sql.SQL(", ").join(map(sql.Identifier, POSITION_COLUMNS))
        with cur.copy(sql.SQL(Q["copy_positions"]).format(columns=names)) as copy:
            copy.set_types(list(POSITION_TYPES))
            for lo in range(0, n, chunk_rows):
                hi = min(lo + chunk_rows, n)
                columns = [
                    [corpus_id] * (hi - lo),
                    *(
                        getattr(table, c)[lo:hi].tolist()
                        for c in ("document", "idx", "context_token_id", "target_token_id")
                    ),
                    *([strings[code] for code in getattr(table, c)[lo:hi].tolist()] for c in TEXT_CODE_COLUMNS),
                    *(getattr(table, c)[lo:hi].astype(bool).tolist() for c in ("begin_of_word", "end_of_word")),
                    table.frequency[lo:hi].tolist(),
                    [w if w >= 0 else None for w in table.word[lo:hi].tolist()],
                ]
                for row in zip(*columns):
                    copy.write_row(row)
                if on_rows is not None:
                    on_rows(hi - lo)
        return cur.rowcount


def copy_words(conn, corpus_id: int, table: WordTable) -> int:
    """COPY the corpus's spaCy words (``corpus_word``); returns the rows loaded."""
    with psycopg_connection(conn).cursor() as cur:
        with cur.copy(Q["copy_words"]) as copy:
            copy.set_types(["int2", "int4", "int4", "int4", "int4", "int4", "text"])
            columns = [
                table.document.tolist(),
                table.word.tolist(),
                table.start_char.tolist(),
                table.end_char.tolist(),
                table.n_tokens.tolist(),
                table.text,
            ]
            for row in zip(*columns):
                copy.write_row((corpus_id, *row))
        return cur.rowcount


def _tokenize(tok, documents: list[str], *, bos: bool, eos: bool, what: str):
    # counted in characters, so one long line shows progress (with rate and ETA) piece by piece
    docs = []
    with progress.step(what, total=sum(map(len, documents)), unit="characters") as bar:
        for lo in range(0, len(documents), TOKENIZE_SLICE_DOCS):
            docs += tokenize_documents(
                tok, documents[lo : lo + TOKENIZE_SLICE_DOCS], bos=bos, eos=eos, on_chars=bar.advance
            )
    return docs


def _tag(nlp, texts: list[str], tags: TagVocab, *, what: str):
    """``tag_documents`` over slices of the corpus, for progress within long documents too.

    Documents are cut with the tagger's own ``chunk_spans`` (exactly the pieces ``tag_documents`` would cut), the
    pieces tagged in slices of about 1/PROGRESS_SLICES of the corpus, and each document's words put back
    together with their offsets; the shared TagVocab keeps the codes consistent across slices.
    """
    pieces = [(doc_no, start, text[start:end]) for doc_no, text in enumerate(texts) for start, end in chunk_spans(text)]
    total = sum(len(p) for _, _, p in pieces)
    slice_chars = max(2 * BATCH_CHARS, total // PROGRESS_SLICES)
    parts: list[list[tuple[int, Words]]] = [[] for _ in texts]
    with progress.step(what, total=total, unit="characters") as bar:
        lo = 0
        while lo < len(pieces):
            hi, chars = lo, 0
            while hi < len(pieces) and (hi == lo or chars + len(pieces[hi][2]) <= slice_chars):
                chars += len(pieces[hi][2])
                hi += 1
            for (doc_no, start, _), words in zip(
                pieces[lo:hi], tag_documents(nlp, [p for _, _, p in pieces[lo:hi]], tags)
            ):
                parts[doc_no].append((start, words))
            bar.advance(chars)
            lo = hi
    return [
        Words(
            starts=np.concatenate([w.starts + off for off, w in ps]),
            ends=np.concatenate([w.ends + off for off, w in ps]),
            tag=np.concatenate([w.tag for _, w in ps]),
            upos=np.concatenate([w.upos for _, w in ps]),
        )
        for ps in parts
    ]


# ------------------------------------------------------------------------------------------------ helpers


def _check_documents(documents, what: str) -> None:
    if isinstance(documents, str) or not isinstance(documents, (list, tuple)):
        raise ConvdivError(f"{what}s must be a list of strings")
    if not documents:
        raise ConvdivError(f"no {what}s given")
    for i, text in enumerate(documents):
        if not isinstance(text, str):
            raise ConvdivError(f"{what} {i} is not a string")
        if not text.strip():
            raise ConvdivError(f"{what} {i} is empty")


def _tagset_input(tagset: str) -> dict:
    """The tagset's part of the content hash: nothing for 'ptb', so corpora added before tagsets existed keep
    their hashes (a re-add of one stays a no-op)."""
    return {} if tagset == "ptb" else {"tagset": tagset}


def _content_hash(settings: dict, documents: list[str]) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for text in documents:
        data = text.encode("utf-8")
        h.update(struct.pack("<Q", len(data)))  # length prefix: ["ab","c"] != ["a","bc"]
        h.update(data)
    return h.hexdigest()


def _frequency_input(counts: np.ndarray | None, documents: list[str] | None) -> str:
    """What the frequency counts are computed from, as a string that changes whenever they may."""
    if counts is not None:
        return "counts:" + freq.counts_sha256(counts)
    if documents is not None:
        return "documents:" + _content_hash({}, documents)
    return "self"


def _compare_existing(engine, name: str, documents_sha: str, frequency_input: str, replace: bool):
    """The answer for an existing corpus of that name when it needs no tokenising (module docstring), else None."""
    existing = find_corpus(engine, name)
    if existing is None:
        return None
    stored = existing.options or {}
    if stored.get("documents_sha256") is None:
        return None  # added before these keys existed: compare the full content hash after tokenising
    if stored["documents_sha256"] != documents_sha:
        if replace:
            return None
        raise ConvdivError(
            f"corpus {name!r} already exists with different content (documents or options differ); "
            f"use --replace to replace it (its facts will be deleted) or choose another name"
        )
    if stored.get("frequency_input") == frequency_input:
        return CorpusInfo(existing.corpus_id, name, existing.n_documents, existing.n_positions, created=False)
    return None  # same documents, another frequency source: the counts decide


def find_corpus(engine, name: str):
    """The corpus stored under ``name`` (corpus_id, content_sha256, n_documents, n_positions, options), or None."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(Q["find_corpus"], {"name": name}).first()
