"""Extraction engine: batched forward passes and per-token CE / entropy / KL reductions.

`from convdiv.extract import extract_group, ExtractResult, STAT_COLUMNS` works, but torch is only imported on
first use, so that CLI modules in this package stay cheap to import.
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
