-- Facts on a corpus's positions, [lo, hi) its position-id range (what goes with the corpus when it is replaced or
-- removed): the range selects that corpus's partitions of checkpoint_token and pair_token, the planner prunes the
-- others, so the count reads that corpus's facts only.
SELECT
    (SELECT count(*) FROM checkpoint_token WHERE position_id >= %(lo)s AND position_id < %(hi)s)
  + (SELECT count(*) FROM pair_token WHERE position_id >= %(lo)s AND position_id < %(hi)s)
    AS facts
