-- corpus_tokenizations: per corpus, its word segmentation and how many tokenizations of the same documents the
-- warehouse holds: which corpora can be compared by word (word_surprisal, word_ce).
--
-- Two corpora are tokenizations of the same documents when their segmentation (corpus.words_sha256: the documents
-- and their spaCy word spans) is equal; they are different tokenizations when their tokenizer_sha256 differs.
-- Corpora added before migration 0022 have no words: has_words = false, segmentation NULL; add them again with
-- `convdiv corpus add NAME ... --replace` to compare them by word.
-- Columns:
--   corpus, corpus_id, tokenizer, tokenizer_sha256, n_documents, n_positions   the corpus (see corpus_summary)
--   has_words           the corpus has its spaCy words stored (added at or after migration 0022)
--   segmentation        corpus.words_sha256 (NULL without words)
--   n_words             rows of corpus_word for the corpus
--   n_tokenizations     distinct tokenizers among the corpora with this segmentation (0 without words)
--   corpora             their names, comma-separated, in name order (NULL without words)
CREATE OR REPLACE VIEW corpus_tokenizations AS
SELECT
    co.name AS corpus,
    co.corpus_id,
    co.tokenizer,
    co.tokenizer_sha256,
    co.n_documents,
    co.n_positions,
    co.words_sha256 IS NOT NULL AS has_words,
    co.words_sha256 AS segmentation,
    (SELECT count(*) FROM corpus_word AS w WHERE w.corpus_id = co.corpus_id)::bigint AS n_words,
    (
        SELECT count(DISTINCT o.tokenizer_sha256) FROM corpus AS o WHERE o.words_sha256 = co.words_sha256
    )::integer AS n_tokenizations,
    (
        SELECT string_agg(o.name, ', ' ORDER BY o.name) FROM corpus AS o WHERE o.words_sha256 = co.words_sha256
    ) AS corpora
FROM corpus AS co;
