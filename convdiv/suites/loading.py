"""Loading a suite's tokenizer and checkpoints, hub or local, through one code path.

Every checkpoint is loaded with ``AutoModelForCausalLM.from_pretrained(path, revision=...)``: for hub suites
``path`` is the run's repository and ``revision`` its ``step<N>`` branch; for local suites ``path`` is the step
folder. The weights' identity is the sha256 over the checkpoint's safetensors files (sorted by name, bytes
concatenated); it is recorded per checkpoint because some published Pythia branches hold identical weights for
different steps, which :func:`check_identical_weights` reports.

The effective vocabulary is ``len(tokenizer)``; models may produce wider logits (Pythia pads 50,277 -> 50,304)
which the extract engine slices. The tokenizer must be one and the same across a suite: a local step folder that
carries its own tokenizer files must match the suite's (:func:`check_suite_tokenizer`).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from convdiv.errors import ConvdivError
from convdiv.suites.spec import CheckpointRef, SuiteSpec

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")
_HASH_CHUNK = 1 << 22


@dataclass
class LoadedCheckpoint:
    ref: CheckpointRef
    model: torch.nn.Module  # eval mode, on the requested device
    weights_sha256: str | None  # None when no safetensors file could be found (e.g. a .bin-only hub branch)
    n_params: int


# -------------------------------------------------------------------------------------------- tokenizer


def load_tokenizer(spec: SuiteSpec):
    """The suite's tokenizer (``AutoTokenizer``); for local suites, also checks every step folder's own copy."""
    tokenizer = _load_tokenizer(spec.tokenizer, f"suite {spec.name!r}")
    if spec.source == "local":
        check_suite_tokenizer(spec, tokenizer)
    return tokenizer


def _load_tokenizer(where: str, owner: str):
    from transformers import AutoTokenizer

    if _is_local(where) and not Path(where).is_dir():
        raise ConvdivError(f"{owner}: tokenizer folder not found: {where}")
    try:
        return AutoTokenizer.from_pretrained(where)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types; the user needs one line
        raise ConvdivError(f"{owner}: cannot load tokenizer {where}: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=64)
def _fingerprint_of(folder: str, mtime_ns: int) -> str:
    from convdiv.vocab import tokenizer_fingerprint

    return tokenizer_fingerprint(_load_tokenizer(folder, f"tokenizer {folder}"))


def folder_fingerprint(folder: Path) -> str:
    """tokenizer_fingerprint of the tokenizer saved in a folder (cached while its files are unchanged)."""
    folder = Path(folder)
    mtime = max((folder / f).stat().st_mtime_ns for f in TOKENIZER_FILES if (folder / f).exists())
    return _fingerprint_of(str(folder), mtime)


def has_own_tokenizer(folder: Path) -> bool:
    return any((Path(folder) / f).is_file() for f in TOKENIZER_FILES)


def check_suite_tokenizer(spec: SuiteSpec, tokenizer=None, refs: Iterable[CheckpointRef] | None = None) -> str:
    """Refuse a local suite whose step folders carry a tokenizer different from the suite's; return its fingerprint.

    Only folders that actually carry tokenizer files are compared (``save_pretrained`` of a model alone writes
    none), so the usual layout costs one ``stat`` per checkpoint.
    """
    from convdiv.vocab import tokenizer_fingerprint

    tokenizer = tokenizer if tokenizer is not None else _load_tokenizer(spec.tokenizer, f"suite {spec.name!r}")
    expected = tokenizer_fingerprint(tokenizer)
    if spec.source != "local":
        return expected
    for ref in refs if refs is not None else spec.checkpoints():
        step_dir = Path(ref.path)
        if has_own_tokenizer(step_dir) and folder_fingerprint(step_dir) != expected:
            raise ConvdivError(
                f"{ref.describe()}: its tokenizer differs from the suite's ({spec.tokenizer}); "
                "every checkpoint of a suite must share one tokenizer"
            )
    return expected


# -------------------------------------------------------------------------------------------- weights identity


def weights_sha256(files: Sequence[Path]) -> str | None:
    """sha256 over the bytes of the given safetensors files, concatenated in name order."""
    if not files:
        return None
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: Path(p).name):
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def safetensors_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.safetensors"))


def _read_safetensors_header(path: Path) -> dict:
    """Parse a safetensors header and check the file is as long as the header says (catches truncation)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError("file shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", raw)
        if n <= 0 or 8 + n > size:
            raise ValueError(f"header length {n} does not fit a file of {size} bytes")
        header = json.loads(fh.read(n))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise ValueError(f"data section ends at byte {8 + n + end} but the file has {size} bytes")
    return header


def safetensors_param_count(folder: Path) -> int | None:
    """Number of parameters stored in a folder's safetensors files (headers only), None if there are none."""
    files = safetensors_files(folder)
    if not files:
        return None
    total = 0
    for path in files:
        try:
            header = _read_safetensors_header(path)
        except (OSError, ValueError):
            return None
        for key, tensor in header.items():
            if key != "__metadata__":
                n = 1
                for dim in tensor["shape"]:
                    n *= int(dim)
                total += n
    return total


def _hub_weight_files(ref: CheckpointRef) -> list[Path]:
    """The cached safetensors files of a hub checkpoint (after from_pretrained has fetched them)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return []

    def cached(name: str) -> Path | None:
        hit = try_to_load_from_cache(ref.path, name, revision=ref.revision)
        return Path(hit) if isinstance(hit, str) else None

    single = cached("model.safetensors")
    if single is not None:
        return [single]
    index = cached("model.safetensors.index.json")
    if index is None:
        return []
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    files = [cached(name) for name in shards]
    return [f for f in files if f is not None] if all(files) else []


def checkpoint_weights_sha256(ref: CheckpointRef) -> str | None:
    """sha256 of a checkpoint's weights without loading the model (local folder or hub cache)."""
    files = safetensors_files(Path(ref.path)) if ref.revision is None and _is_local(ref.path) else _hub_weight_files(ref)
    return weights_sha256(files)


# -------------------------------------------------------------------------------------------- models


def load_checkpoint(ref: CheckpointRef, device: str = "cpu", dtype=torch.float32) -> LoadedCheckpoint:
    """Load one checkpoint with ``from_pretrained`` in eval mode on ``device``.

    Any failure (missing folder, corrupt safetensors, a tokenizer in the step folder that differs from the
    suite's, an unreachable hub) raises a one-line ConvdivError naming the checkpoint.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one tqdm bar per checkpoint would drown convdiv's own progress
    local = ref.revision is None and _is_local(ref.path)
    files: list[Path] = []
    if local:
        folder = Path(ref.path)
        if not folder.is_dir():
            raise ConvdivError(f"{ref.describe()}: checkpoint folder missing")
        if not (folder / "config.json").is_file():
            raise ConvdivError(f"{ref.describe()}: config.json missing (expected save_pretrained output)")
        files = safetensors_files(folder)
        if not files and not list(folder.glob("*.bin")):
            raise ConvdivError(f"{ref.describe()}: no weights (*.safetensors) in the folder")
        for path in files:
            try:
                _read_safetensors_header(path)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise ConvdivError(f"{ref.describe()}: corrupt safetensors file {path.name}: {exc}") from None
        _check_step_tokenizer(ref)
    try:
        model = AutoModelForCausalLM.from_pretrained(ref.path, revision=ref.revision, **_dtype_kwargs(dtype))
    except Exception as exc:  # noqa: BLE001 - one line naming the checkpoint, whatever transformers raised
        raise ConvdivError(f"{ref.describe()}: cannot load: {type(exc).__name__}: {exc}") from None
    try:
        model = model.to(device)
    except Exception as exc:  # noqa: BLE001
        raise ConvdivError(f"{ref.describe()}: cannot move to device {device!r}: {exc}") from None
    model.eval()
    sha = weights_sha256(files) if local else weights_sha256(_hub_weight_files(ref))
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedCheckpoint(ref=ref, model=model, weights_sha256=sha, n_params=n_params)


def _check_step_tokenizer(ref: CheckpointRef) -> None:
    """A local step folder with its own tokenizer must match the suite's ``<root>/tokenizer``."""
    step_dir = Path(ref.path)
    if not has_own_tokenizer(step_dir):
        return
    suite_tok = step_dir.parents[2] / "tokenizer"  # <root>/<size>/seed<k>/step<N>
    if not has_own_tokenizer(suite_tok):
        return
    if folder_fingerprint(step_dir) != folder_fingerprint(suite_tok):
        raise ConvdivError(
            f"{ref.describe()}: its tokenizer differs from the suite's ({suite_tok}); "
            "every checkpoint of a suite must share one tokenizer"
        )


def _dtype_kwargs(dtype) -> dict:
    """transformers >= 4.56 calls it ``dtype``; older releases only know ``torch_dtype``."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _is_local(path: str) -> bool:
    p = Path(path).expanduser()
    return p.is_absolute() or path.startswith(".") or p.exists()


# -------------------------------------------------------------------------------------------- checks


def check_identical_weights(loaded: Iterable) -> list[str]:
    """Warnings for runs in which two different steps have byte-identical weights.

    Accepts :class:`LoadedCheckpoint` objects or ``(CheckpointRef, sha256)`` pairs. Some published Pythia
    branches were found to hold the same weights under different step names; such checkpoints would show a
    consecutive-step KL of exactly 0.
    """
    by_run: dict[tuple[str, int, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for item in loaded:
        ref, sha = (item.ref, item.weights_sha256) if isinstance(item, LoadedCheckpoint) else item
        if sha:
            steps = by_run[(ref.size, ref.seed, ref.source)][sha]
            if ref.step not in steps:
                steps.append(ref.step)
    warnings = []
    for (size, seed, source), hashes in by_run.items():
        for sha, steps in hashes.items():
            if len(steps) > 1:
                shown = ", ".join(str(s) for s in sorted(steps))
                warnings.append(
                    f"run {size}/seed{seed} ({source}): steps {shown} have identical weights (sha256 {sha[:12]})"
                )
    return warnings
