-- Facts that reference a corpus's positions (they cascade away when the corpus is replaced or removed).
SELECT
    (SELECT count(*) FROM checkpoint_token ct JOIN position p USING (position_id) WHERE p.corpus_id = :corpus_id)
  + (SELECT count(*) FROM pair_token pt JOIN position p USING (position_id) WHERE p.corpus_id = :corpus_id)
    AS facts
