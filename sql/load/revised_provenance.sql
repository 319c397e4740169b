-- The replaced row's year, source, batch and retrieval time for each revised row of a batch
-- classified by classify_batch.sql (kept in fact_observation_history): a join of the few revised
-- rows with the published ones, instead of carrying these columns through the classifying join.
UPDATE _changed AS c
SET old_year = f.year, old_source_id = f.source_id, old_batch_id = f.batch_id, old_retrieved_at = f.retrieved_at
FROM fact_observation AS f
WHERE c.revised
  AND f.indicator_id = c.indicator_id AND f.country_iso3 = c.country_iso3 AND f.period = c.period
  AND f.sex = c.sex AND f.breakdown = c.breakdown;
