-- Register a corpus; its vocab_token and position rows follow by COPY in the same transaction.
INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, n_positions,
                    words_sha256, spacy_model, frequency_source, options)
VALUES (%(name)s, %(tokenizer)s, %(tokenizer_sha256)s, %(vocab_size)s, %(content_sha256)s, %(n_documents)s, %(n_positions)s,
        %(words_sha256)s, %(spacy_model)s, %(frequency_source)s, CAST(%(options)s AS jsonb))
RETURNING corpus_id
