-- Named queries of the schema drift check (convdiv/warehouse/catalog.py): the analytics layer's views and functions
-- as the server renders them, live and as created from sql/ in a scratch schema that is rolled back.
-- Placeholders are psycopg's %(name)s (a literal percent sign is %%), except in the DDL (scratch_schema,
-- scratch_search_path): its {name} fields are identifiers composed with psycopg.sql.

-- name: current_schema
SELECT current_schema();

-- name: scratch_schema
-- Where the expected objects are created, inside a transaction that is rolled back.
CREATE SCHEMA {scratch};

-- name: scratch_search_path
-- Objects created from sql/ land in the scratch schema and read the warehouse's tables, until the rollback.
SET LOCAL search_path = {scratch}, {schema};

-- name: live_analytics_objects
-- Every view, materialised view and function of the warehouse's schema and of the scratch schema:
-- (name, kind, schema).
SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' END, n.nspname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN (%(schema)s, %(scratch)s) AND c.relkind IN ('v', 'm')
UNION ALL
SELECT p.proname, 'function', n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname IN (%(schema)s, %(scratch)s);

-- name: object_definition
-- One object's definition as the server renders it: a view's pg_get_viewdef; a function's signatures, results
-- and an md5 of each body.
SELECT CASE WHEN %(kind)s = 'function'
            THEN (SELECT string_agg(pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
                                    || ' ' || md5(p.prosrc), ';')
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = %(schema)s AND p.proname = %(name)s)
            ELSE pg_get_viewdef(format('%%I.%%I', %(schema)s::text, %(name)s::text)::regclass) END;
