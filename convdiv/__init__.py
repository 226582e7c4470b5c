"""convdiv: a results warehouse for convergence and divergence of language models across random seeds."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("convdiv")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"
