-- position_features: every position with its static features, the frequency features derived once for all views.
--
-- Serves: token_records, pair_records, regression_inputs and the materialised aggregates (category families).
-- Columns:
--   position_id, corpus_id, corpus (name), document, idx   the position x of a document
--   context_token_id      w(x), the last token of the context
--   token_id, token       w(x+1), the predicted token, and its decoded text (leading space kept)
--   pos_t, pos_prev       POS(t) = PTB tag of the predicted token's word; POS(t-1) = tag of the context token's word
--                         (NULL for whitespace / special tokens)
--   upos_t, upos_prev     universal (coarse) POS of the same words
--   group_t, group_prev   coarse group of POS(t) / POS(t-1): noun, verb, adjective, adverb, function, ...
--   begin_of_word, end_of_word   the predicted token holds its word's first / last character
--   frequency             count of w(x+1) in the corpus's frequency source
--   log_frequency         ln(frequency); NULL when the count is 0 (the log is undefined)
--   frequency_bin_order   decade of the count: floor(log10(frequency)) computed exactly from the digits
--                         (0 for 1..9, 1 for 10..99, ...); -1 for a count of 0
--   frequency_bin         label of that decade with its edges: '[1,10)', '[10,100)', ...; '0' for a count of 0
CREATE OR REPLACE VIEW position_features AS
SELECT
    p.position_id,
    p.corpus_id,
    co.name AS corpus,
    p.document,
    p.idx,
    p.context_token_id,
    p.target_token_id AS token_id,
    vt.token,
    p.pos_t,
    p.pos_prev,
    p.upos_t,
    p.upos_prev,
    p.group_t,
    p.group_prev,
    p.begin_of_word,
    p.end_of_word,
    p.frequency,
    CASE WHEN p.frequency > 0 THEN ln(p.frequency::double precision) END AS log_frequency,
    -- number of decimal digits - 1 is floor(log10(n)) without floating-point rounding at exact powers of ten
    CASE WHEN p.frequency > 0 THEN length(p.frequency::text) - 1 ELSE -1 END AS frequency_bin_order,
    CASE
        WHEN p.frequency > 0 THEN
            '[' || rpad('1', length(p.frequency::text), '0') || ',' || rpad('1', length(p.frequency::text) + 1, '0') || ')'
        ELSE '0'
    END AS frequency_bin
FROM position AS p
JOIN corpus AS co ON co.corpus_id = p.corpus_id
LEFT JOIN vocab_token AS vt ON vt.corpus_id = p.corpus_id AND vt.token_id = p.target_token_id;
