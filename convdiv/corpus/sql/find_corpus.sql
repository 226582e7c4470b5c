-- The corpus registered under a name (NULL row when absent): what add_corpus compares before writing
-- (options: documents_sha256 and frequency_input, compared before any tokenising).
SELECT corpus_id, content_sha256, n_documents, n_positions, options
FROM corpus
WHERE name = %(name)s
