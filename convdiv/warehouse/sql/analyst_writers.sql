-- The roles that write the warehouse (may INSERT into ingest_unit: the loaders), other than :role and superusers,
-- which keep what they have anyway. `convdiv db grant-analyst` grants them TEMPORARY on the database before it
-- revokes TEMPORARY from PUBLIC: the ingest stages each publish in temporary tables (one column: rolname).
SELECT r.rolname
FROM pg_roles r
WHERE NOT r.rolsuper AND r.rolname <> %(role)s AND r.rolname NOT LIKE 'pg\_%%'
  AND has_table_privilege(r.oid, 'ingest_unit', 'INSERT')
ORDER BY 1
