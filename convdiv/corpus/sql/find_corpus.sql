-- The corpus registered under a name (NULL row when absent): what add_corpus compares before writing.
SELECT corpus_id, content_sha256, n_documents, n_positions
FROM corpus
WHERE name = :name
