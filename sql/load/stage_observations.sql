-- Classify each incoming observation against the current state (inserted / changed / unchanged).
-- _incoming holds one validated batch, already conformed to the fact_observation contract.
CREATE OR REPLACE TEMP TABLE _merge AS
SELECT
    i.*,
    CASE
        WHEN f.indicator_id IS NULL THEN 'inserted'
        WHEN f.value IS DISTINCT FROM i.value THEN 'changed'
        ELSE 'unchanged'
    END AS change_kind
FROM _incoming AS i
LEFT JOIN fact_observation AS f
    ON f.indicator_id = i.indicator_id
   AND f.country_iso3 = i.country_iso3
   AND f.period = i.period;
