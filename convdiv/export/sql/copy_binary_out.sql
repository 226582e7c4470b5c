-- The rows of one partition query (a table's fixed-width, NOT NULL columns) as PostgreSQL's binary COPY stream,
-- decoded by numpy in convdiv/export/parquet.py. A template: the query is composed in with psycopg.sql.
COPY ({query}) TO STDOUT (FORMAT binary)
