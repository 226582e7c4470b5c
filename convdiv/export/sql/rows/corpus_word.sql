-- corpus_word rows of one corpus partition (%(corpus_id)s): the spaCy words (none for corpora added before 0022).
SELECT * FROM corpus_word WHERE corpus_id = %(corpus_id)s
