-- The checks and deletes of one unit's publish (convdiv/warehouse/unit_facts.py), inside its transaction.
-- Each query starts with a line `-- name: <name>`; placeholders are psycopg's %(name)s (convdiv.warehouse.queries).

-- name: owned_comparisons
-- The comparisons a unit owns: its kinds, with checkpoint b among its checkpoints (convdiv.warehouse.unit_facts
-- checks every pair row's comparison against them; the facts have no foreign keys since migration 0003).
SELECT c.comparison_id FROM comparison c
 WHERE c.kind = ANY(%(kinds)s::text[]) AND c.checkpoint_b = ANY(%(checkpoint_ids)s::int[]);

-- name: corpus_positions_between
-- How many positions of the corpus have an id in [lo, hi] (a range scan of the primary key).
SELECT count(*) FROM position p
 WHERE p.position_id BETWEEN %(lo)s AND %(hi)s AND p.corpus_id = %(corpus_id)s;

-- name: corpus_positions_among
-- Which of the given position ids are positions of the corpus (one primary-key lookup each).
SELECT p.position_id FROM position p
 WHERE p.position_id = ANY(%(ids)s::int[]) AND p.corpus_id = %(corpus_id)s;

-- name: delete_owned_checkpoint_rows
-- A unit owns the checkpoint_token rows of its checkpoints on its corpus (whatever run produced them before).
DELETE FROM checkpoint_token ct
 USING position p
 WHERE ct.checkpoint_id = ANY(%(checkpoint_ids)s::int[])
   AND p.position_id = ct.position_id AND p.corpus_id = %(corpus_id)s;

-- name: delete_owned_pair_rows
-- ... and the pair_token rows of the comparisons it owns: its kinds, with checkpoint b among its checkpoints.
DELETE FROM pair_token pt
 USING comparison c, position p
 WHERE c.comparison_id = pt.comparison_id
   AND c.kind = ANY(%(kinds)s::text[]) AND c.checkpoint_b = ANY(%(checkpoint_ids)s::int[])
   AND p.position_id = pt.position_id AND p.corpus_id = %(corpus_id)s;
