-- comparison_regression_sums: per comparison, the regression's X'y split by POS(t) and by POS(t-1): for each
-- factor and tag, the number of positions, the sum of KL and of ln(frequency) * KL over the comparison's positions
-- with that tag (positions with a zero frequency left out, as in the regression). Summed over the levels of one
-- factor they give the comparison's totals (its X'y entries for the intercept and log frequency); summed over the
-- comparisons of a size and step they give regression_moments' sums by tag.
--
-- Serves: the report's leave-one-seed-out interval of the regression coefficients (convdiv.analysis.regression):
-- a few rows per comparison and tag instead of comparison_moments' rows per POS pair.
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind
--   comparison_id, seed_a, seed_b   the comparison and its two seeds
--   size, step                      checkpoint a's size and step
--   factor, level                   'pos_t' or 'pos_prev', and the tag (NULL: no tag)
--   n, sum_kl, sum_lf_kl            positions, sum of KL, sum of ln(frequency) * KL
-- Computed per suite by compute_comparison_regression_sums (sql/views/compute_comparison_regression_sums.sql):
-- a read filtered on suite groups that suite's aggregate rows only.
CREATE OR REPLACE VIEW comparison_regression_sums AS
SELECT
    s.name AS suite,
    s.suite_id,
    co.name AS corpus,
    x.corpus_id,
    ci.kind,
    x.comparison_id,
    ci.seed_a,
    ci.seed_b,
    ci.size_a AS size,
    ci.step_a AS step,
    x.factor,
    x.level,
    x.n,
    x.sum_kl,
    x.sum_lf_kl
FROM suite AS s
CROSS JOIN LATERAL compute_comparison_regression_sums(s.suite_id) AS x
JOIN comparison_info AS ci ON ci.comparison_id = x.comparison_id
JOIN corpus AS co ON co.corpus_id = x.corpus_id;
