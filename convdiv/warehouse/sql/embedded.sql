-- Named queries of the embedded server (convdiv/warehouse/embedded.py), run on its admin database "postgres".
-- Placeholders are psycopg's %(name)s, except in create_database (no parameters in DDL): its {database} is an
-- identifier composed with psycopg.sql.

-- name: database_exists
-- One row when the warehouse's database exists on the embedded server.
SELECT 1 FROM pg_database WHERE datname = %(database)s;

-- name: create_database
CREATE DATABASE {database};
