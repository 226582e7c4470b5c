-- corpus_summary: one row per corpus with its dimensions.
--
-- Serves: the report's scope choice and Overview; analysts' first look at what a warehouse holds.
-- Columns:
--   corpus_id, corpus     the corpus (key and name)
--   tokenizer             the tokenizer it was tokenised with (a Hub id or a folder)
--   n_documents           documents, evaluated separately
--   n_positions           positions x (one per predicted token)
--   vocab_size            |V|, the tokenizer's real vocabulary
--   spacy_model           the POS tagger (name and version)
--   frequency_source      where the token frequencies and the unigram distribution come from
--   created_at            when it was added
CREATE OR REPLACE VIEW corpus_summary AS
SELECT corpus_id,
       name AS corpus,
       tokenizer,
       n_documents,
       n_positions,
       vocab_size,
       spacy_model,
       frequency_source,
       created_at
FROM corpus;
