-- The binary COPY of the bulk loader (convdiv/warehouse/loader.py): a template whose {table} and {columns} are
-- identifiers composed with psycopg.sql (COPY takes no parameters).

-- name: copy_binary_in
-- Fixed-width, NULL-free columns in PostgreSQL's binary COPY format; the tuples are written by loader.copy_into.
COPY {table} ({columns}) FROM STDIN (FORMAT binary);
