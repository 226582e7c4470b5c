"""Corpus preparation: validation text -> tokens -> POS tags aligned to tokens -> frequency -> `position` rows.

Read top to bottom: ``sources`` (text files, datasets) -> ``tokens`` (one document at a time, offsets) ->
``tagging`` (spaCy tagger only) -> ``align`` (BPE token <-> word by character offsets) -> ``groups`` (coarse POS
groups) -> ``frequency`` (counts, smoothed unigram, frequency bins) -> ``positions`` (one row per predicted token)
-> ``load`` (one COPY transaction; ``add_corpus`` is the public entry point) -> ``commands`` (the CLI).
"""
