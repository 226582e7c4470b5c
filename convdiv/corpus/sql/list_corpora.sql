-- Corpora in the warehouse, oldest first.
SELECT corpus_id, name, tokenizer, n_documents, n_positions, spacy_model, COALESCE(options ->> 'tagset', 'ptb') AS tagset, frequency_source, created_at
FROM corpus
ORDER BY created_at, corpus_id
