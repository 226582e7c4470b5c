-- Every way role :role could still write, create or own objects in the warehouse (schema :schema of the current
-- database), by privileges alone: through its own attributes and grants, through every role it is a member of
-- (directly or through other roles, INHERIT or not: a member can always SET ROLE), and through PUBLIC.
-- `convdiv db grant-analyst` refuses a role for which this returns any row (see convdiv/warehouse/roles.py).
--
-- Columns:
--   via     the role that holds the capability (:role itself, a role it belongs to, or PUBLIC)
--   reason  what that role can do, in words (e.g. 'can INSERT into suite', 'has CREATEROLE')
--   fix     one statement (or instruction) that removes this path from that role
--   member_of  for a capability held through membership, the role :role belongs to directly on that path
--              (REVOKE member_of FROM :role cuts it); NULL when :role or PUBLIC holds it
WITH RECURSIVE reach(oid, path) AS (
    SELECT oid, ARRAY[]::name[] FROM pg_roles WHERE rolname = %(role)s
    UNION
    SELECT m.roleid, r.path || (SELECT rolname FROM pg_roles WHERE oid = m.roleid)
    FROM pg_auth_members m
    JOIN reach r ON m.member = r.oid
    WHERE cardinality(r.path) < 64  -- membership cycles are impossible in PostgreSQL; this only bounds the walk
),
holders AS (  -- the role, every role it reaches, and PUBLIC (no attributes, no ownership)
    SELECT DISTINCT ON (p.oid) p.oid, p.rolname::text AS name, p.rolsuper, p.rolcreaterole, p.rolbypassrls,
           p.rolreplication, r.path
    FROM reach r JOIN pg_roles p ON p.oid = r.oid
    UNION ALL
    SELECT 0, 'public', false, false, false, false, ARRAY[]::name[]
),
named AS (
    SELECT h.*,
           CASE WHEN h.name = 'public' THEN 'PUBLIC' ELSE quote_ident(h.name) END AS shown,
           CASE WHEN h.name = 'public' THEN 'PUBLIC'
                WHEN cardinality(h.path) = 0 THEN quote_ident(%(role)s)
                WHEN cardinality(h.path) = 1 THEN format('its member role %%I', h.name)
                ELSE format('its member role %%I (via %%s)', h.name,
                            array_to_string(h.path[1:cardinality(h.path) - 1], ' -> '))
           END AS via,
           h.path[1]::text AS member_of
    FROM holders h
),
relations AS (
    SELECT c.oid, c.relname, c.relkind, c.relowner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
),
write_privileges(privilege) AS (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER'))
SELECT member_of, via, 'is a superuser' AS reason, format('ALTER ROLE %%s NOSUPERUSER', shown) AS fix
FROM named WHERE rolsuper
UNION ALL
SELECT member_of, via, 'has CREATEROLE', format('ALTER ROLE %%s NOCREATEROLE', shown) FROM named WHERE rolcreaterole
UNION ALL
SELECT member_of, via, 'has BYPASSRLS', format('ALTER ROLE %%s NOBYPASSRLS', shown) FROM named WHERE rolbypassrls
UNION ALL
SELECT member_of, via, 'has REPLICATION', format('ALTER ROLE %%s NOREPLICATION', shown) FROM named WHERE rolreplication
UNION ALL
SELECT member_of, via, 'is a predefined role that writes', format('REVOKE %%s FROM %%I', name, %(role)s)
FROM named WHERE name IN ('pg_write_all_data', 'pg_write_server_files', 'pg_execute_server_program')
UNION ALL
SELECT h.member_of, h.via, format('owns database %%I', d.datname), 'use a role that owns nothing in the warehouse'
FROM named h JOIN pg_database d ON d.datdba = h.oid WHERE d.datname = current_database()
UNION ALL
SELECT h.member_of, h.via, format('owns schema %%I', n.nspname), 'use a role that owns nothing in the warehouse'
FROM named h JOIN pg_namespace n ON n.nspowner = h.oid WHERE n.nspname = %(schema)s
UNION ALL
SELECT h.member_of, h.via, format('owns %%I', r.relname), 'use a role that owns nothing in the warehouse'
FROM named h JOIN relations r ON r.relowner = h.oid
UNION ALL
SELECT h.member_of, h.via, format('owns function %%I', p.proname), 'use a role that owns nothing in the warehouse'
FROM named h JOIN pg_proc p ON p.proowner = h.oid JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s
UNION ALL
SELECT h.member_of, h.via, format('can %%s %%I', w.privilege, r.relname),
       format('REVOKE %%s ON %%I FROM %%s', w.privilege, r.relname, h.shown)
FROM named h CROSS JOIN relations r CROSS JOIN write_privileges w
WHERE r.relkind <> 'S'
  AND CASE WHEN w.privilege IN ('INSERT', 'UPDATE', 'REFERENCES')
           THEN has_any_column_privilege(h.name, r.oid, w.privilege)  -- table-level or any single column
           ELSE has_table_privilege(h.name, r.oid, w.privilege) END
UNION ALL
SELECT h.member_of, h.via, format('can UPDATE sequence %%I', r.relname),
       format('REVOKE UPDATE ON %%I FROM %%s', r.relname, h.shown)
FROM named h JOIN relations r ON r.relkind = 'S' WHERE has_sequence_privilege(h.name, r.oid, 'UPDATE')
UNION ALL
SELECT h.member_of, h.via, format('can advance sequence %%I (nextval)', r.relname),
       format('REVOKE USAGE ON %%I FROM %%s', r.relname, h.shown)
FROM named h JOIN relations r ON r.relkind = 'S' WHERE has_sequence_privilege(h.name, r.oid, 'USAGE')
UNION ALL
SELECT h.member_of, h.via, format('can create temporary tables in database %%I', current_database()),
       format('REVOKE TEMPORARY ON DATABASE %%I FROM %%s', current_database(), h.shown)
FROM named h WHERE has_database_privilege(h.name, current_database(), 'TEMPORARY')
UNION ALL
-- server-side functions that write outside the warehouse's tables (roles.WRITE_FUNCTIONS): large objects, WAL
SELECT h.member_of, h.via, format('can run %%s, which writes to disk', p.oid::regprocedure),
       format('REVOKE EXECUTE ON FUNCTION %%s FROM %%s (as a superuser)', p.oid::regprocedure, h.shown)
FROM named h
JOIN pg_proc p ON p.pronamespace = 'pg_catalog'::regnamespace
 AND p.proname = ANY(%(write_functions)s::text[])
WHERE has_function_privilege(h.name, p.oid, 'EXECUTE')
UNION ALL
SELECT h.member_of, h.via, format('can CREATE in schema %%I', %(schema)s),
       format('REVOKE CREATE ON SCHEMA %%I FROM %%s', %(schema)s, h.shown)
FROM named h WHERE has_schema_privilege(h.name, %(schema)s, 'CREATE')
UNION ALL
SELECT h.member_of, h.via, format('can CREATE schemas in database %%I', current_database()),
       format('REVOKE CREATE ON DATABASE %%I FROM %%s', current_database(), h.shown)
FROM named h WHERE has_database_privilege(h.name, current_database(), 'CREATE')
UNION ALL
SELECT h.member_of, h.via, format('can run SECURITY DEFINER function %%I', p.proname),
       format('REVOKE EXECUTE ON FUNCTION %%I FROM %%s', p.proname, h.shown)
FROM named h JOIN pg_proc p ON p.prosecdef JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND has_function_privilege(h.name, p.oid, 'EXECUTE')
