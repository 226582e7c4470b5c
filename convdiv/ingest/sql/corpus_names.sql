-- The loaded corpora's names, for the line that refuses an unknown corpus (`convdiv ingest --corpus`).
SELECT name FROM corpus ORDER BY name
