-- corpus rows of the selected corpora (%(corpus_ids)s).
SELECT * FROM corpus WHERE corpus_id = ANY(%(corpus_ids)s)
