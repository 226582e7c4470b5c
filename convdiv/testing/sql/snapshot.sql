-- Named queries of the ingest tests' fact snapshot (convdiv/testing/ingest.py: snapshot): every fact row with its
-- natural keys instead of surrogate ids, in a fixed order, so two warehouses that ingested the same suite compare
-- row by row. Each query starts with a line `-- name: snapshot_<fact table>`.

-- name: snapshot_checkpoint_token
SELECT m.size, r.seed, c.step, p.document, p.idx, ct.ce, ct.entropy, ct.kl_uniform, ct.kl_unigram
FROM checkpoint_token ct
JOIN checkpoint c USING (checkpoint_id)
JOIN run r USING (run_id)
JOIN model m USING (model_id)
JOIN position p USING (position_id)
ORDER BY 1, 2, 3, 4, 5;

-- name: snapshot_pair_token
SELECT cmp.kind, ma.size, ra.seed, ca.step, mb.size, rb.seed, cb.step, p.document, p.idx, pt.kl_ab, pt.kl_ba
FROM pair_token pt
JOIN comparison cmp USING (comparison_id)
JOIN checkpoint ca ON ca.checkpoint_id = cmp.checkpoint_a
JOIN run ra ON ra.run_id = ca.run_id
JOIN model ma ON ma.model_id = ra.model_id
JOIN checkpoint cb ON cb.checkpoint_id = cmp.checkpoint_b
JOIN run rb ON rb.run_id = cb.run_id
JOIN model mb ON mb.model_id = rb.model_id
JOIN position p USING (position_id)
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
