-- Rows of one view (or table) for the Python API (convdiv/api/warehouse.py: Warehouse.view). A template: the column
-- list and the view are identifiers, the WHERE clause (each filter: IS NULL, = ANY of a list, or = a value) and the
-- LIMIT are composed with psycopg.sql; filter values and the limit are parameters.
SELECT {columns} FROM {view}{where}{limit}
