-- One corpus's spaCy words (convdiv/corpus/load.py: copy_words), in psycopg's binary COPY: each word's document,
-- number, character span, token count and text.
COPY corpus_word (corpus_id, document, word, start_char, end_char, n_tokens, text) FROM STDIN (FORMAT BINARY)
