-- Named queries of `convdiv db grant-analyst` (convdiv/warehouse/roles.py): create a read-only analyst role and
-- close every write path it could hold. Placeholders are psycopg's %(name)s, except in the DDL (CREATE/ALTER ROLE,
-- GRANT, REVOKE): PostgreSQL takes no parameters there, so its {name} fields are filled by psycopg.sql composition
-- in roles.py, identifiers with sql.Identifier and values with sql.Literal (quoted by psycopg, never pasted).

-- name: grant_session
-- Who grants, where: the database and schema the role is made read-only on, and the granting user.
SELECT current_database(), current_schema(), current_user;

-- name: role_attributes
-- The role when it exists (no row: it does not): a superuser cannot be restricted by any grant.
SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = %(role)s;

-- name: create_role
-- A new analyst role, LOGIN or NOLOGIN (a group role, the default).
CREATE ROLE {role} {login};

-- name: allow_login
-- An existing NOLOGIN role asked for with --login.
ALTER ROLE {role} LOGIN;

-- name: grant_connect
GRANT CONNECT ON DATABASE {database} TO {role};

-- name: grant_usage
GRANT USAGE ON SCHEMA {schema} TO {role};

-- name: revoke_create
REVOKE CREATE ON SCHEMA {schema} FROM {role};

-- name: revoke_table_writes
-- Whatever write privilege an existing role had on the tables (ALL TABLES covers views and materialised views).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {role};

-- name: revoke_sequences
REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role};

-- name: grant_select
-- ALL TABLES covers tables, views and materialised views.
GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};

-- name: grant_select_later
-- SELECT on what the granting user creates later (new views of later migrations).
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role};

-- name: read_only_sessions
-- Sessions that log in as the role start read-only: a convenience a session can switch off, not a protection.
ALTER ROLE {role} IN DATABASE {database} SET default_transaction_read_only = on;

-- name: write_functions
-- The signatures of the server functions of roles.WRITE_FUNCTIONS (large objects, WAL messages) in pg_catalog.
SELECT p.oid::regprocedure::text
FROM pg_proc p
WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY(%(names)s);

-- name: revoke_function
-- The function is a signature read by write_functions (regprocedure text, already quoted by the server).
REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC;

-- name: granting_user
SELECT current_user;

-- name: grant_temporary
-- Each of the warehouse's writers keeps TEMPORARY before PUBLIC loses it.
GRANT TEMPORARY ON DATABASE {database} TO {writer};

-- name: revoke_public_temporary
REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC;

-- name: bound_temp_files
-- What one analyst query may spill to temporary files (roles.TEMP_FILE_LIMIT); needs a superuser.
ALTER ROLE {role} IN DATABASE {database} SET temp_file_limit = {limit};
