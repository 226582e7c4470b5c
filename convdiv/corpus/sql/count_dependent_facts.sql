-- Facts that reference a corpus's positions (deleted with the corpus when it is replaced or removed).
SELECT
    (SELECT count(*) FROM checkpoint_token ct JOIN position p USING (position_id) WHERE p.corpus_id = %(corpus_id)s)
  + (SELECT count(*) FROM pair_token pt JOIN position p USING (position_id) WHERE p.corpus_id = %(corpus_id)s)
    AS facts
