-- Apply a batch classified by classify_revisions.sql (a first load): a revised row replaces the
-- published one, a new key is added; unchanged rows are left alone (they keep the batch and
-- retrieval time of the load that first brought them). fact_observation has no key index
-- (schemas/fact_observation.yaml), so revised keys are deleted first
-- (delete_revised_observations.sql) and every key the table lacks is inserted.
INSERT INTO fact_observation BY NAME
SELECT i.*
FROM _incoming AS i
ANTI JOIN fact_observation AS f
    ON f.indicator_id = i.indicator_id AND f.country_iso3 = i.country_iso3 AND f.period = i.period
   AND f.sex = i.sex AND f.breakdown = i.breakdown;
