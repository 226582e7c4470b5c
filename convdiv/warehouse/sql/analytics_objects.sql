-- Catalog probes of the analytics layer's objects (convdiv/warehouse/views.py: create, comment, drop, replace).
-- Each object is a view, a materialised view or a function of the current schema, named as its file sql/<layer>/<name>.sql.

-- name: analytics_object_kind
-- What `name` is in the database, as DROP / COMMENT ON spell it: VIEW, MATERIALIZED VIEW or FUNCTION (no row: it
-- does not exist). A migration may have changed its kind (a materialised view at 0002 is a table-backed view later).
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = %(name)s AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'FUNCTION'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.proname = %(name)s;

-- name: analytics_function_signatures
-- Every signature of the function `name` (regprocedure text, e.g. compute_token_kl(integer[],integer)): COMMENT ON
-- FUNCTION names one signature.
SELECT p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.proname = %(name)s;

-- name: analytics_existing_objects
-- The names of every view, materialised view and function of the current schema: the objects replace() may have to
-- drop and re-create.
SELECT c.relname::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm')
UNION
SELECT p.proname::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema();
