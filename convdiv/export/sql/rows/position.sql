-- position rows of one corpus partition (%(corpus_id)s).
SELECT * FROM position WHERE corpus_id = %(corpus_id)s
