"""Extraction engine: batched forward passes and per-token CE / entropy / KL reductions; pure compute.

engine.py (the batched pass over a group of models), kernels.py (the per-token reductions' formulas and their torch
kernel, run on CUDA), fused.py (the same reductions fused per position, compiled with numba, run on CPU),
windows.py (documents cut into windows and batches). No database, no orchestration: ``convdiv.ingest`` plans, runs and publishes.

`from convdiv.extract import extract_group, ExtractResult, STAT_COLUMNS` works, but torch is only imported on
first use, so that importing this package stays cheap.
"""

__all__ = ["STAT_COLUMNS", "ExtractResult", "default_context_length", "extract_group"]


def __getattr__(name):
    if name == "STAT_COLUMNS":
        from convdiv.extract.kernels import STAT_COLUMNS

        return STAT_COLUMNS
    if name in ("ExtractResult", "default_context_length", "extract_group"):
        from convdiv.extract import engine

        return getattr(engine, name)
    raise AttributeError(name)
