"""Weight files read without torch: safetensors headers, parameter counts, the weights' sha256, NaN/inf scan.

A checkpoint's identity is the sha256 over its weight files (sorted by name, bytes concatenated). While the bytes
are hashed, the safetensors tensors are also scanned for NaN or infinite values: the scan reads the bit patterns
of the mapped bytes (all exponent bits set), so it costs no float conversion and no second read. The header
reader checks the file is as long as the header says, which catches truncated downloads and copies.

Used by :mod:`convdiv.suites.spec` (ordering sizes by parameters on disk) and :mod:`convdiv.suites.loading`.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_HASH_CHUNK = 1 << 22


def weights_sha256(files: Sequence[Path]) -> str | None:
    """sha256 over the bytes of the given weight files, concatenated in name order."""
    return hash_weights(files)[0]


def hash_weights(files: Sequence[Path]) -> tuple[str | None, tuple[str, ...]]:
    """sha256 over the files' bytes (name order) and the safetensors tensors that hold NaN or inf.

    The scan looks at the bit patterns of the mapped bytes the hash reads anyway (all exponent bits set = inf or
    NaN, for float16, bfloat16, float32 and float64), so it needs no float conversion and no second read.
    """
    if not files:
        return None, ()
    digest = hashlib.sha256()
    nonfinite: list[str] = []
    for path in sorted(files, key=lambda p: Path(p).name):
        path = Path(path)
        if path.stat().st_size == 0:
            continue
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                for start in range(0, len(mm), _HASH_CHUNK):
                    digest.update(view[start : start + _HASH_CHUNK])
                if path.suffix == ".safetensors":
                    nonfinite += _nonfinite_tensors(path, mm)
            finally:
                view.release()
    return digest.hexdigest(), tuple(nonfinite)


# safetensors dtype -> (unsigned view, exponent mask): a float is inf/NaN exactly when its exponent bits are all set.
_EXPONENT_MASKS = {
    "F16": (np.uint16, 0x7C00),
    "BF16": (np.uint16, 0x7F80),
    "F32": (np.uint32, 0x7F800000),
    "F64": (np.uint64, 0x7FF0000000000000),
}


def _nonfinite_tensors(path: Path, mm) -> list[str]:
    try:
        header = read_safetensors_header(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return []  # a corrupt file is load_checkpoint's to report
    (n,) = struct.unpack("<Q", mm[:8])
    base = 8 + n
    out = []
    for name, tensor in header.items():
        if name == "__metadata__" or tensor.get("dtype") not in _EXPONENT_MASKS:
            continue
        kind, mask = _EXPONENT_MASKS[tensor["dtype"]]
        begin, end = (int(x) for x in tensor["data_offsets"])
        width = np.dtype(kind).itemsize
        if end <= begin:
            continue
        bits = np.frombuffer(mm, dtype=kind, count=(end - begin) // width, offset=base + begin)
        bad = int(np.count_nonzero((bits & kind(mask)) == kind(mask)))
        if bad:
            out.append(f"{name}: {bad} value(s)")
    return out


def safetensors_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.safetensors"))


def read_safetensors_header(path: Path) -> dict:
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
            header = read_safetensors_header(path)
        except (OSError, ValueError):
            return None
        for key, tensor in header.items():
            if key != "__metadata__":
                n = 1
                for dim in tensor["shape"]:
                    n *= int(dim)
                total += n
    return total
