-- The pair_token rows of a corpus's positions (the fact tables have no foreign keys to cascade through).
DELETE FROM pair_token pt USING position p WHERE p.position_id = pt.position_id AND p.corpus_id = %(corpus_id)s
