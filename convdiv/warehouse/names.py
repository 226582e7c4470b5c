"""The analyst views' names, one home: every reader (report, api, export) names a view through these constants.

One constant per view of docs/sql.md ("## Views"), in that page's order; ``ANALYST_VIEWS`` lists them all.
tests/test_warehouse_names.py checks that each names a view of a migrated warehouse and that every view there has
a constant (the five building blocks the SQL joins internally aside). ``convdiv.analysis`` imports nothing from
convdiv (tests/test_layout.py), so its functions take the frames these views return, never the names.
"""

from __future__ import annotations

# flat joins of the facts
TOKEN_RECORDS = "token_records"
PAIR_RECORDS = "pair_records"
# aggregate analysis views
EXPECTED_KL = "expected_kl"
REFERENCE_KL = "reference_kl"
CONDITIONAL_KL = "conditional_kl"
RELATIVE_DIVERGENCE = "relative_divergence"
CE_DIFFERENCE = "ce_difference"
PHASE_BOUNDARIES = "phase_boundaries"
DIVERGENCE_STABILITY = "divergence_stability"
REGRESSION_INPUTS = "regression_inputs"
REGRESSION_CELLS = "regression_cells"
REGRESSION_MOMENTS = "regression_moments"
TOKEN_DIVERGENCE = "token_divergence"
CONTEXT_VARIANCE = "context_variance"
POSITION_KL = "position_kl"
COMPARISON_KL = "comparison_kl"
COMPARISON_MOMENTS = "comparison_moments"
COMPARISON_REGRESSION_SUMS = "comparison_regression_sums"
# what the warehouse holds
SUITE_SUMMARY = "suite_summary"
CORPUS_SUMMARY = "corpus_summary"
CHECKPOINT_COVERAGE = "checkpoint_coverage"
INGEST_COVERAGE = "ingest_coverage"
INGEST_PROVENANCE = "ingest_provenance"
EXAMPLE_TOKENS = "example_tokens"
# words and tokenizations
WORD_SURPRISAL = "word_surprisal"
WORD_CE = "word_ce"
CORPUS_TOKENIZATIONS = "corpus_tokenizations"

ANALYST_VIEWS: tuple[str, ...] = (
    TOKEN_RECORDS,
    PAIR_RECORDS,
    EXPECTED_KL,
    REFERENCE_KL,
    CONDITIONAL_KL,
    RELATIVE_DIVERGENCE,
    CE_DIFFERENCE,
    PHASE_BOUNDARIES,
    DIVERGENCE_STABILITY,
    REGRESSION_INPUTS,
    REGRESSION_CELLS,
    REGRESSION_MOMENTS,
    TOKEN_DIVERGENCE,
    CONTEXT_VARIANCE,
    POSITION_KL,
    COMPARISON_KL,
    COMPARISON_MOMENTS,
    COMPARISON_REGRESSION_SUMS,
    SUITE_SUMMARY,
    CORPUS_SUMMARY,
    CHECKPOINT_COVERAGE,
    INGEST_COVERAGE,
    INGEST_PROVENANCE,
    EXAMPLE_TOKENS,
    WORD_SURPRISAL,
    WORD_CE,
    CORPUS_TOKENIZATIONS,
)
