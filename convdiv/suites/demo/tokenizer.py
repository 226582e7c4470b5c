"""Demo text and tokenizer: the bundled Austen novels as documents, a GPT-NeoX-style BPE trained on the training
novels, and the token streams training reads (documents packed with ``<|endoftext|>``, validation windows)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from convdiv.errors import ConvdivError
from convdiv.suites.demo.config import EOS, SPECIAL_TOKENS, DemoConfig
from convdiv.suites.spec import TOKENIZER_DIR


def demo_validation_text(max_documents: int | None = None) -> str:
    """The held-out novel (Persuasion), one chapter per document, documents joined by ``<|endoftext|>``.

    ``max_documents`` keeps only the first chapters (the whole novel is 24 chapters, ~83 k words).
    """
    from convdiv.data.austen import validation_documents

    docs = validation_documents()
    return EOS.join(docs[:max_documents] if max_documents else docs)


def demo_training_text() -> str:
    """The five training novels, chapters joined by ``<|endoftext|>``."""
    from convdiv.data.austen import training_documents

    return EOS.join(training_documents())


def training_text(cfg: DemoConfig) -> str:
    """The training text a configuration uses: all of it, or its first ``train_chars`` characters."""
    text = demo_training_text()
    return text[: cfg.train_chars] if cfg.train_chars else text


def ensure_tokenizer(root: Path, cfg: DemoConfig):
    """The suite's tokenizer from ``<root>/tokenizer``, trained there first when it is missing."""
    from transformers import AutoTokenizer

    folder = root / TOKENIZER_DIR
    if not (folder / "tokenizer.json").is_file():
        tmp = root / (TOKENIZER_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        train_tokenizer(training_text(cfg), cfg.vocab_size, tmp)
        tmp.replace(folder)
    return AutoTokenizer.from_pretrained(str(folder))


def train_tokenizer(text: str, vocab_size: int, out_dir: Path):
    """GPT-NeoX-style byte-level BPE: ByteLevel pre-tokenizer without prefix space, all 256 bytes in the alphabet."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Documents are split at paragraphs: BPE merges never cross them anyway (the pre-tokenizer splits first).
    tok.train_from_iterator((p for doc in text.split(EOS) for p in doc.split("\n\n")), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=SPECIAL_TOKENS[1]
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return fast


def encode_stream(tokenizer, text: str) -> np.ndarray:
    """Documents packed into one stream, ``<|endoftext|>`` (id 0) after each, as Pythia packs the Pile."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    docs = text.split(EOS)
    encoded = tokenizer(docs, add_special_tokens=False)["input_ids"]
    out = []
    for ids in encoded:
        out.extend(ids)
        out.append(eos)
    return np.asarray(out, dtype=np.int32)


def token_streams(tokenizer, cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """The training stream and the concatenated validation windows of a configuration."""
    train = encode_stream(tokenizer, training_text(cfg))
    val = validation_windows(encode_stream(tokenizer, demo_validation_text()), cfg.val_sequences, cfg.seq_len)
    if len(train) < cfg.batch_size * cfg.seq_len:
        raise ConvdivError(f"demo config {cfg.name}: training text too short for one batch")
    return train, val


def validation_windows(stream: np.ndarray, n: int, seq_len: int) -> np.ndarray:
    """``n`` windows of ``seq_len`` tokens at evenly spaced offsets through the stream, concatenated.

    Spread over the whole novel: its opening pages (a baronetage entry full of names and dates) are not typical.
    """
    starts = [i * (len(stream) - seq_len) // max(1, n - 1) for i in range(n)]
    return np.concatenate([stream[s : s + seq_len] for s in starts])
