"""Tokenise each document on its own, keeping character offsets for the alignment with words.

A document's token sequence is ``[BOS] + tokenizer(document) + [EOS]`` (BOS/EOS optional; Pythia's study
convention is both, id 0). Contexts never cross documents. Offsets are character (code point) offsets into the
document as returned by the fast tokenizer; BOS and EOS get empty spans at the start and the end. Byte-level BPE
tokens that split one multi-byte character all report that character's span, which ``align`` accounts for.

Long documents are tokenised in pieces of about ``PIECE_CHARS`` characters, cut at a single space between two
non-space characters (where byte-level BPE pre-tokenisers such as GPT-2's and Pythia's always start a new word),
and kept as numpy arrays: the fast tokenizer's Python lists of ids and offsets cost ~175 MB per MB of text
for one 5 MB line. Whether a tokenizer really gives the same tokens across such a cut is checked at every cut
(a window around it is tokenised whole and compared); if not, the document is tokenised whole, as before.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from convdiv.errors import ConvdivError

# Characters per tokenizer call for long documents (bounded memory); windows of CHECK_CHARS either side of each
# cut are tokenised whole to check that the cut changes no token.
PIECE_CHARS = 100_000
CHECK_CHARS = 400
_CUT = re.compile(r"(?<=\S) (?=\S)")


@dataclass
class TokenizedDocument:
    ids: np.ndarray  # int64 [n] full token sequence (BOS/EOS included when asked for)
    offsets: np.ndarray  # int64 [n, 2] character span [start, end) of each token in the document text
    special: np.ndarray  # bool [n] special tokens (BOS, EOS, <|endoftext|> inside the text): never tagged


def load_tokenizer(name: str):
    """A fast (Rust) tokenizer from a local directory or hub id; ConvdivError naming it when it cannot load."""
    path = Path(name).expanduser()
    if name.startswith((".", "/", "~")) and not path.exists():
        raise ConvdivError(f"tokenizer not found: {name} (no such directory)")
    if path.exists() and path.is_dir() and not any(path.glob("tokenizer*.json")) and not any(path.glob("vocab*")):
        raise ConvdivError(f"tokenizer not found: {name} has no tokenizer files")
    key = str(path.resolve()) if path.exists() else name
    # cached per process; a local tokenizer is reloaded when its files change
    stamp = (
        tuple(sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in path.iterdir())) if path.is_dir() else ()
    )
    return _load_tokenizer(key, stamp)


@lru_cache(maxsize=4)
def _load_tokenizer(name: str, stamp: tuple):
    from transformers import AutoTokenizer

    # transformers logs a warning for documents longer than model_max_length; documents are windowed later.
    logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 - transformers' boundary: a folder or hub id fails in many ways (OSError,
        # ValueError, hub and JSON errors); one line naming the tokenizer
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConvdivError(f"cannot load tokenizer {name}: {reason}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConvdivError(f"tokenizer {name} has no fast (Rust) implementation; offsets are needed for POS tags")
    return tokenizer


def special_ids(tokenizer) -> np.ndarray:
    return np.asarray(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)


def tokenize_documents(
    tokenizer,
    documents: list[str],
    *,
    bos: bool = False,
    eos: bool = False,
    batch_size: int = 64,
    piece_chars: int = PIECE_CHARS,
    on_chars: Callable[[int], None] | None = None,
) -> list[TokenizedDocument]:
    """Each document tokenised separately (batched calls; no special tokens added by the tokenizer itself;
    documents longer than piece_chars in pieces, see the module docstring). ``on_chars(n)`` is told the characters
    done after each batch of short documents and each piece of a long one (progress within one long line)."""
    bos_id = _special_id(tokenizer, "bos") if bos else None
    eos_id = _special_id(tokenizer, "eos") if eos else None
    specials = special_ids(tokenizer)
    out: list[TokenizedDocument] = []
    for start in range(0, len(documents), batch_size):
        batch = documents[start : start + batch_size]
        short = [t for t in batch if len(t) <= piece_chars]
        enc = iter(_encode(tokenizer, short)) if short else iter(())
        if on_chars is not None and short:
            on_chars(sum(map(len, short)))
        for text in batch:
            ids, offsets = (
                next(enc) if len(text) <= piece_chars else _encode_long(tokenizer, text, piece_chars, on_chars)
            )
            if bos_id is not None:
                ids = np.concatenate([[bos_id], ids])
                offsets = np.concatenate([[[0, 0]], offsets])
            if eos_id is not None:
                ids = np.concatenate([ids, [eos_id]])
                offsets = np.concatenate([offsets, [[len(text), len(text)]]])
            out.append(TokenizedDocument(ids=ids, offsets=offsets, special=np.isin(ids, specials)))
    return out


def _encode(tokenizer, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False)
    return [
        (np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64).reshape(-1, 2))
        for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"])
    ]


def cut_points(text: str, piece_chars: int) -> list[int]:
    """Starts of the pieces after the first: the last single space between non-space characters before every
    piece_chars characters (none found: that stretch stays in one piece)."""
    cuts, last = [], 0
    while len(text) - last > piece_chars:
        limit = last + piece_chars
        cut = None
        for m in _CUT.finditer(text, max(last + 1, limit - piece_chars // 2), limit):
            cut = m.start()  # the last one in the range (finditer is lazy: at most half a piece scanned)
        if cut is None:  # no single space in the second half of the piece: look further ahead
            ahead = _CUT.search(text, limit)
            if ahead is None:
                break
            cut = ahead.start()
        cuts.append(cut)
        last = cut
    return cuts


def _encode_long(
    tokenizer, text: str, piece_chars: int, on_chars: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A long document tokenised piece by piece (offsets shifted back), or whole if a cut would change a token."""
    cuts = cut_points(text, piece_chars)
    bounds = [0, *cuts, len(text)]
    parts = []
    for lo, hi in zip(bounds, bounds[1:]):
        ((ids, offsets),) = _encode(tokenizer, [text[lo:hi]])
        parts.append((ids, offsets + lo))
        if on_chars is not None:
            on_chars(hi - lo)
    ids = np.concatenate([p[0] for p in parts])
    offsets = np.concatenate([p[1] for p in parts])
    for cut in cuts:
        if not _same_across(tokenizer, text, cut, ids, offsets):
            ((ids, offsets),) = _encode(tokenizer, [text])
            break
    return ids, offsets


def _same_across(tokenizer, text: str, cut: int, ids: np.ndarray, offsets: np.ndarray) -> bool:
    """Do the pieces' tokens near ``cut`` equal those of a window tokenised whole? Compared: the tokens that lie
    within CHECK_CHARS / 2 of the cut, far enough from the window's own edges to be unaffected by them."""
    lo, hi = max(0, cut - CHECK_CHARS), min(len(text), cut + CHECK_CHARS)
    ((w_ids, w_off),) = _encode(tokenizer, [text[lo:hi]])
    w_off = w_off + lo
    a, b = cut - CHECK_CHARS // 2, cut + CHECK_CHARS // 2

    def inner(i, o):
        keep = (o[:, 0] >= a) & (o[:, 1] <= b)
        return i[keep], o[keep]

    near = (offsets[:, 1] >= lo) & (offsets[:, 0] <= hi)
    got_ids, got_off = inner(ids[near], offsets[near])
    want_ids, want_off = inner(w_ids, w_off)
    return np.array_equal(got_ids, want_ids) and np.array_equal(got_off, want_off)


def _special_id(tokenizer, which: str) -> int:
    token_id = getattr(tokenizer, f"{which}_token_id")
    if token_id is None:
        raise ConvdivError(f"tokenizer {tokenizer.name_or_path} has no {which.upper()} token; use --no-{which}")
    return int(token_id)


def token_texts(tokenizer) -> list[str]:
    """Readable text of every token id 0..len(tokenizer)-1, leading space kept.

    Byte-level BPE tokens are mapped back to their bytes and decoded as UTF-8; bytes that are only part of a
    character (one piece of an emoji) are shown as ``\\xNN`` escapes instead of U+FFFD, so distinct tokens stay
    distinct. NUL (which PostgreSQL text cannot hold) is shown as ``\\x00``.
    """
    n = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    added = {int(i): tok.content for i, tok in tokenizer.added_tokens_decoder.items()}
    byte_decoder = _byte_decoder() if _is_byte_level(tokenizer) else None
    texts = []
    for token_id, piece in enumerate(pieces):
        if token_id in added:
            text = added[token_id]
        elif piece is None:
            text = ""
        elif byte_decoder is not None and all(ch in byte_decoder for ch in piece):
            text = bytes(byte_decoder[ch] for ch in piece).decode("utf-8", errors="backslashreplace")
        else:
            text = tokenizer.convert_tokens_to_string([piece])
        texts.append(text.replace("\x00", "\\x00"))
    return texts


def _is_byte_level(tokenizer) -> bool:
    import json

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    return "ByteLevel" in json.dumps(state.get("pre_tokenizer")) or "ByteLevel" in json.dumps(state.get("decoder"))


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode``: printable stand-in character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}
