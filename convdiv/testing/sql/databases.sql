-- Named queries of the scratch databases and roles the tests make (convdiv/testing/databases.py). DDL takes no
-- parameters: {name}, {template} and {attributes} are composed with psycopg.sql (identifiers quoted); the role
-- lookup is an ordinary %(name)s query. All run in autocommit on the server's maintenance database or a test one.

-- name: create_database
CREATE DATABASE {name};

-- name: create_database_from_template
-- A file-level copy of the template (a migrated database): refused while any session is connected to it.
CREATE DATABASE {name} TEMPLATE {template};

-- name: drop_database
-- Disconnects whoever is still on it.
DROP DATABASE IF EXISTS {name} WITH (FORCE);

-- name: create_login_role
-- The attributes are as in CREATE ROLE (e.g. NOINHERIT), written by the test itself.
CREATE ROLE {name} LOGIN {attributes};

-- name: role_exists
SELECT 1 FROM pg_roles WHERE rolname = %(name)s;

-- name: drop_owned
-- Everything the role owns or was granted in the current database.
DROP OWNED BY {name};

-- name: drop_role
DROP ROLE {name};
