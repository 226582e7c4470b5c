"""Where and in what precision an ingest computes: the request's ``--device``/``--devices`` and ``--dtype`` resolved
against this machine (is CUDA there, how many GPUs, bfloat16 support). Needs torch, so it runs after the request
checked itself (:mod:`convdiv.ingest.request`) and before anything is registered."""

from __future__ import annotations

import re
from collections.abc import Iterable

from convdiv.errors import ConvdivError

_DTYPES = ("float32", "bfloat16", "float16")


def resolve_device(device: str) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConvdivError(f"--device {device}: CUDA is not available on this machine")
    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConvdivError(f"unknown device {device!r}: expected auto, cpu, cuda or cuda:N")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise ConvdivError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
            f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
        )
    return device


def resolve_devices(devices: Iterable[str]) -> tuple[str, ...]:
    """``--devices cuda:0,cuda:1`` (or ``cpu,cpu``), as the request split them: each entry checked on this machine."""
    return tuple(resolve_device(d) for d in devices)


def resolve_dtype(dtype: str, device: str) -> str:
    import torch

    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "float32"
    if dtype not in _DTYPES:
        raise ConvdivError(f"unknown dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
    return dtype


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)
