"""Speed and memory benchmarks, each printing ratios against a baseline run in the same process.

Run each as a module from the repository root, e.g. ``.venv/bin/python -m bench.scale --help``; they import the
installed package and build their warehouses with ``convdiv.testing`` (the builders the tests use), and share their
helpers through ``bench.common``.
"""
