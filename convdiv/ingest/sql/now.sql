-- The server's clock: an ingest's start (--force redoes units finished before it; progress counts units finished
-- since it), on the same clock as ingest_unit.finished_at.
SELECT now()
