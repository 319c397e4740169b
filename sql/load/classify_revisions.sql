-- Classify one validated batch (_incoming, conformed to fact_observation) against the current
-- state, for a source that holds few of the batch's keys yet (a first load): only the revised rows
-- are materialised, with the value they replace (kept in fact_observation_history); the new keys
-- are inserted straight from _incoming (merge_observations.sql), so a first load of 10M rows is
-- not copied into a temporary table on the way.
CREATE OR REPLACE TEMP TABLE _changed AS
SELECT
    i.*,
    f.value AS old_value,
    f.year AS old_year,
    f.source_id AS old_source_id,
    f.batch_id AS old_batch_id,
    f.retrieved_at AS old_retrieved_at,
    CASE WHEN f.value <> 0 THEN abs(i.value - f.value) / abs(f.value) END AS change_share,
    true AS revised
FROM _incoming AS i
JOIN fact_observation AS f
    ON f.indicator_id = i.indicator_id
   AND f.country_iso3 = i.country_iso3
   AND f.period = i.period
   AND f.sex = i.sex
   AND f.breakdown = i.breakdown
WHERE f.value IS DISTINCT FROM i.value;
