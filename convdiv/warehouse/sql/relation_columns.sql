-- Columns of a table or view of the current schema, in order (no rows: no such relation): name, type OID, NOT NULL
-- (views report false), relkind. Read by convdiv.connect().columns (checks view names and filters) and by the export
-- (its fast fixed-width path takes only tables whose every column is NOT NULL and of a fixed-width type).
SELECT a.attname AS name, a.atttypid::int AS type_oid, a.attnotnull AS not_null, c.relkind AS relkind
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = %(name)s AND c.relkind IN ('r', 'p', 'v', 'm')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
