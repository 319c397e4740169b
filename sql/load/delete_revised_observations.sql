-- Revised rows leave fact_observation before their new values are inserted (merge_observations.sql
-- or insert_classified.sql); the old values are in fact_observation_history by then
-- (keep_revised_values.sql).
DELETE FROM fact_observation AS f
USING _changed AS c
WHERE c.revised AND f.indicator_id = c.indicator_id AND f.country_iso3 = c.country_iso3 AND f.period = c.period
  AND f.sex = c.sex AND f.breakdown = c.breakdown;
