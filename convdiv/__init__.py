"""convdiv: a results warehouse for convergence and divergence of language models across random seeds.

``convdiv.connect()`` opens the warehouse for notebooks (see ``convdiv.api``); it is imported on first use so
that the command line does not pay for pandas and SQLAlchemy at start-up.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("convdiv")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

__all__ = ["Warehouse", "__version__", "connect"]


def __getattr__(name: str):
    if name in ("connect", "Warehouse"):
        from convdiv import api

        return getattr(api, name)
    raise AttributeError(f"module 'convdiv' has no attribute {name!r}")
