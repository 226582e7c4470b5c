-- word_surprisal: word-level surprisal, the sum of a word's token surprisals, one row per checkpoint and word.
--
-- Words are the corpus's own spaCy words (corpus_word: character spans of each document's text), not the
-- tokenizer's, so two corpora with the same documents and different tokenizers have the same words (equal
-- corpus.words_sha256, the column segmentation): join them on (segmentation, document, word) to compare suites
-- with different tokenizers on the same text. KL between models needs one vocabulary; surprisal does not.
-- Which tokens a word has (convdiv/corpus/align.py, token_words): a token belongs to the word of the first word
-- character at or after its start. A token spanning two words goes to the word where its first non-space
-- character is; a whitespace-only token goes to the next word (leading whitespace is part of the word it precedes,
-- as in byte-level BPE's ' the'); whitespace after a document's last word and special tokens (BOS, EOS) belong to
-- no word. So a document's word surprisals add up to its token surprisal but for BOS/EOS and trailing whitespace.
-- A word whose tokens are not all predicted (the first word of a document in a corpus without BOS: w(0) is only
-- context) is incomplete: complete = false, its surprisal lacks that token; compare complete words only.
-- Corpora added before migration 0022 have no words (segmentation NULL, position.word NULL): no rows here until
-- the corpus is added again with `convdiv corpus add NAME ... --replace` (its facts go with it: ingest again).
-- Not materialised: it groups checkpoint_token rows on every read; filter it by corpus_id (a constant corpus_id is
-- applied to the positions before the grouping; the corpus name is not), suite, size, seed and step.
-- Columns:
--   suite, suite_id, size, size_rank, seed, step, checkpoint_id   the checkpoint (see checkpoint_info)
--   corpus, corpus_id, tokenizer_sha256   the corpus (one tokenization of its documents)
--   segmentation   corpus.words_sha256: equal for corpora with the same documents cut into the same words
--   document, word           the word: document number, word number within the document (0-based)
--   word_text                the word's characters (corpus_word.text)
--   start_char, end_char     its character span in the document text
--   n_tokens                 predicted tokens summed (positions whose target belongs to the word)
--   word_tokens              the word's tokens in the full sequence, w(0) included
--   complete                 n_tokens = word_tokens: every token of the word was predicted
--   surprisal                the sum of those tokens' CE, -log p, in nats (float8 sum of the float4 facts)
CREATE OR REPLACE VIEW word_surprisal AS
SELECT
    ci.suite,
    ci.suite_id,
    ci.size,
    ci.size_rank,
    ci.seed,
    ci.step,
    ci.checkpoint_id,
    co.name AS corpus,
    co.corpus_id,
    co.tokenizer_sha256,
    co.words_sha256 AS segmentation,
    w.document,
    w.word,
    w.text AS word_text,
    w.start_char,
    w.end_char,
    s.n_tokens,
    w.n_tokens AS word_tokens,
    s.n_tokens = w.n_tokens AS complete,
    s.surprisal
FROM (
    SELECT
        ct.checkpoint_id,
        p.corpus_id,
        p.document,
        p.word,
        count(*)::integer AS n_tokens,
        sum(ct.ce::double precision) AS surprisal
    FROM checkpoint_token AS ct
    JOIN position AS p ON p.position_id = ct.position_id
    WHERE p.word IS NOT NULL
    GROUP BY ct.checkpoint_id, p.corpus_id, p.document, p.word
) AS s
JOIN corpus_word AS w ON w.corpus_id = s.corpus_id AND w.document = s.document AND w.word = s.word
JOIN corpus AS co ON co.corpus_id = s.corpus_id
JOIN checkpoint_info AS ci ON ci.checkpoint_id = s.checkpoint_id;
