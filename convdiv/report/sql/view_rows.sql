-- Rows of one analysis view for the report (convdiv/report/data.py: Data.view and Data.lookup). A template: the
-- column list and the view are identifiers, and the WHERE clause (equality filters on the scope's suite and corpus
-- or the given columns, and a section's own condition) is composed with psycopg.sql; values are parameters.
SELECT {columns} FROM {view}{where}
