-- The rows of one partition query (numbers, booleans and text, NULLs allowed) as CSV, parsed by pyarrow as it
-- streams in convdiv/export/parquet.py. A template: the query is composed in with psycopg.sql.
COPY ({query}) TO STDOUT (FORMAT csv)
