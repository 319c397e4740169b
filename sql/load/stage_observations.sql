-- Classify one validated batch (_incoming, conformed to fact_observation) against the current
-- state: how many keys are new, revised or unchanged, and the revised rows with the value they
-- replace (kept in fact_observation_history). Only the revised rows are materialised: a batch of
-- 10M unchanged rows costs one join and no copy.
CREATE OR REPLACE TEMP TABLE _changed AS
SELECT
    i.*,
    f.value AS old_value,
    f.year AS old_year,
    f.source_id AS old_source_id,
    f.batch_id AS old_batch_id,
    f.retrieved_at AS old_retrieved_at,
    CASE WHEN f.value <> 0 THEN abs(i.value - f.value) / abs(f.value) END AS change_share
FROM _incoming AS i
JOIN fact_observation AS f
    ON f.indicator_id = i.indicator_id
   AND f.country_iso3 = i.country_iso3
   AND f.period = i.period
   AND f.sex = i.sex
   AND f.breakdown = i.breakdown
WHERE f.value IS DISTINCT FROM i.value;
