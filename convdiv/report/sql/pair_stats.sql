-- Per comparison: its mean KL over all positions and over each POS(t) / POS(t-1) category, with the two seeds:
-- the input of the bootstrap over seeds (convdiv/analysis/bootstrap.py) for E[KL] and sigma.
-- params: suite, corpus, kinds.  columns: kind, size, step, comparison_id, seed_a, seed_b, family, category,
-- mean_kl
SELECT ci.kind, ci.size_a AS size, ci.step_a AS step, cs.comparison_id, ci.seed_a, ci.seed_b, cs.family,
       cs.category, cs.mean_kl
FROM comparison_stats AS cs
JOIN comparison_info AS ci ON ci.comparison_id = cs.comparison_id
JOIN corpus AS co ON co.corpus_id = cs.corpus_id
WHERE ci.suite = %(suite)s AND co.name = %(corpus)s AND ci.kind = ANY(%(kinds)s)
  AND cs.family IN ('all', 'pos_t', 'pos_prev')
