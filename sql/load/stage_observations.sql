-- Classify each incoming observation against the current state (inserted / changed / unchanged),
-- carrying the value it would replace so a revision can be kept in fact_observation_history.
-- _incoming holds one validated batch, already conformed to the fact_observation contract.
CREATE OR REPLACE TEMP TABLE _merge AS
SELECT
    i.*,
    CASE
        WHEN f.indicator_id IS NULL THEN 'inserted'
        WHEN f.value IS DISTINCT FROM i.value THEN 'changed'
        ELSE 'unchanged'
    END AS change_kind,
    f.value AS old_value,
    f.year AS old_year,
    f.source_id AS old_source_id,
    f.batch_id AS old_batch_id,
    f.retrieved_at AS old_retrieved_at,
    CASE WHEN f.value <> 0 THEN abs(i.value - f.value) / abs(f.value) END AS change_share
FROM _incoming AS i
LEFT JOIN fact_observation AS f
    ON f.indicator_id = i.indicator_id
   AND f.country_iso3 = i.country_iso3
   AND f.period = i.period
   AND f.sex = i.sex
   AND f.breakdown = i.breakdown;
