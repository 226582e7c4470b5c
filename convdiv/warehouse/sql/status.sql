-- Named queries of `convdiv db status` (convdiv/warehouse/status.py); the ingest runs' queries are the ledger's.
-- table_rows is a template: its {table} is an identifier composed with psycopg.sql (a table name cannot be a
-- parameter).

-- name: server_version
SHOW server_version;

-- name: table_rows
-- The rows of one table of the models (each table counted in turn).
SELECT count(*) FROM {table};
