-- The corpus's dimensions. params: corpus.  columns: corpus, n_documents, n_positions, vocab_size, spacy_model,
-- frequency_source, tokenizer, created_at
SELECT name AS corpus, n_documents, n_positions, vocab_size, spacy_model, frequency_source, tokenizer, created_at
FROM corpus WHERE name = %(corpus)s
