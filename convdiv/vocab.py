"""Tokenizer identity: one fingerprint shared by the corpus and suite stages.

A corpus's positions are only meaningful for models that use the very same tokenizer, so both the corpus and
the suite record this fingerprint and ingest refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 over the tokenizer's vocabulary (token -> id) and its added/special tokens.

    Merges are implied by the vocabulary for byte-level BPE in practice; len(tokenizer) is included so that
    added tokens count.
    """
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    payload = json.dumps({"n": len(tokenizer), "vocab": vocab}, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
