-- A setting for the report's current query only (convdiv/report/data.py: Data.query): work_mem, and the planner
-- settings a section asks for; like SET LOCAL, it ends with the query's transaction (rolled back once read).
SELECT set_config(%(name)s, %(value)s, true)
