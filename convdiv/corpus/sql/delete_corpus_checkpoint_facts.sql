-- The checkpoint_token rows of a corpus's positions (the fact tables have no foreign keys to cascade through).
DELETE FROM checkpoint_token ct USING position p WHERE p.position_id = ct.position_id AND p.corpus_id = %(corpus_id)s
