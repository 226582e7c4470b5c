-- Register a corpus; its vocab_token and position rows follow by COPY in the same transaction.
INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, n_positions,
                    spacy_model, frequency_source, options)
VALUES (:name, :tokenizer, :tokenizer_sha256, :vocab_size, :content_sha256, :n_documents, :n_positions,
        :spacy_model, :frequency_source, CAST(:options AS jsonb))
RETURNING corpus_id
