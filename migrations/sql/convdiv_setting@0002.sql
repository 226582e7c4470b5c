-- convdiv_setting(name, default): a tunable of the analysis views, read from the PostgreSQL setting
-- `convdiv.<name>` when set, else `default`.
--
-- Serves: the configurable thresholds of relative_divergence (outlier band) and phase_boundaries (uniform phase).
-- Set per session:      SET convdiv.outlier_low = 0.7;
-- or for the database:  ALTER DATABASE <db> SET convdiv.outlier_low = 0.7;   (new sessions)
-- Known names (defaults live in the views that read them): outlier_low (0.8), outlier_high (1.25),
-- uniform_end_fraction (0.1).
-- Why a setting and not a table: the warehouse tables are exactly the models in convdiv/warehouse/models.py, and a
-- per-session override lets an analyst try a band without writing anything (the analyst role cannot write).
CREATE OR REPLACE FUNCTION convdiv_setting(name text, default_value double precision)
RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(nullif(current_setting('convdiv.' || name, true), '')::double precision, default_value)
$$;
