-- One (suite, corpus) partition of an analysis view for `convdiv export`: the view's columns less suite_id and
-- corpus_id (their values live in the partition's path). A template: the column list and the view are identifiers
-- composed with psycopg.sql by convdiv/export/parquet.py (partition_query).
SELECT {columns} FROM {view} WHERE suite_id = %(suite_id)s AND corpus_id = %(corpus_id)s
