-- vocab_token rows of one corpus partition (%(corpus_id)s).
SELECT * FROM vocab_token WHERE corpus_id = %(corpus_id)s
