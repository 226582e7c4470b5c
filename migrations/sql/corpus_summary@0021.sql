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
--   tagset                the tagset of its POS(t) and POS(t-1) (position.pos_t, pos_prev and every POS family):
--                         'ptb' (the pipeline's fine-grained tag_, Penn Treebank in English) or 'upos' (Universal
--                         POS, comparable across languages); recorded as corpus.options' tagset by `corpus add`
--                         (absent in corpora added before tagsets existed: 'ptb')
CREATE OR REPLACE VIEW corpus_summary AS
SELECT corpus_id,
       name AS corpus,
       tokenizer,
       n_documents,
       n_positions,
       vocab_size,
       spacy_model,
       frequency_source,
       created_at,
       COALESCE(options ->> 'tagset', 'ptb') AS tagset
FROM corpus;
