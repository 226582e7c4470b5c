-- Corpora in the warehouse, oldest first.
SELECT corpus_id, name, tokenizer, n_documents, n_positions, spacy_model, frequency_source, created_at
FROM corpus
ORDER BY created_at, corpus_id
