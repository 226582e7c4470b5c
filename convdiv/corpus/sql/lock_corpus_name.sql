-- Serialise concurrent adds/removes of one corpus name until the end of the transaction.
SELECT pg_advisory_xact_lock(hashtext('convdiv.corpus:' || %(name)s))
