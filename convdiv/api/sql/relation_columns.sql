-- The columns of a table or view of the warehouse's schema, in order (empty when no such relation).
-- Used by `Warehouse.view` to check a view name and its filters before building the query.
SELECT a.attname AS column_name
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
  AND c.relname = :name
  AND c.relkind IN ('r', 'p', 'v', 'm')
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attnum
