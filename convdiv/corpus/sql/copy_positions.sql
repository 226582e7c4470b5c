-- One corpus's position rows (convdiv/corpus/load.py: copy_positions), in psycopg's binary COPY. A template: the
-- column list is composed with psycopg.sql from load.POSITION_COLUMNS (corpus_id, then positions.COLUMNS), the
-- one home of the columns' order.
COPY position ({columns}) FROM STDIN (FORMAT BINARY)
