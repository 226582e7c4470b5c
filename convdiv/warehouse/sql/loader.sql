-- The binary COPY of the bulk loader (convdiv/warehouse/loader.py): a template whose {table} and {columns} are
-- identifiers composed with psycopg.sql (COPY takes no parameters).

-- name: copy_binary_in
-- Fixed-width, NULL-free columns in PostgreSQL's binary COPY format; the tuples are written by loader.copy_into.
COPY {table} ({columns}) FROM STDIN (FORMAT binary);

-- name: copy_binary_out
-- The rows of a query (fixed-width, NOT NULL columns) in PostgreSQL's binary COPY format, read by loader.copy_out;
-- the query is composed in (its own placeholders stay parameters).
COPY ({query}) TO STDOUT (FORMAT binary);
