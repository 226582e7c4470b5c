"""The Python API for notebooks and scripts: ``convdiv.connect()`` returns a ``Warehouse`` that reads the analysis
views into pandas DataFrames.

    import convdiv

    with convdiv.connect() as wh:            # DATABASE_URL, else the embedded server (held while `wh` is open)
        curve = wh.view("expected_kl", suite="demo", kind="seed_pair")
        wh.query("SELECT step, mean_kl FROM expected_kl WHERE size = :size", size="157k")

Only reads: the warehouse is written by the CLI's stages (corpus add, ingest).
"""

from convdiv.api.warehouse import DOCUMENTED_VIEWS, Warehouse, connect

__all__ = ["DOCUMENTED_VIEWS", "Warehouse", "connect"]
