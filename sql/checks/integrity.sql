-- Integrity of a new warehouse state before it is published: every row returned is a problem
-- (check name, offending rows). An empty result lets the publish go ahead.
WITH checks AS (
    SELECT 'fact_observation rows whose indicator is not in dim_indicator' AS check_name,
           count(*) AS n
    FROM fact_observation f ANTI JOIN dim_indicator i USING (indicator_id)
    UNION ALL
    SELECT 'fact_observation rows whose country is not in dim_country',
           count(*)
    FROM fact_observation f ANTI JOIN dim_country c USING (country_iso3)
    UNION ALL
    SELECT 'bridge rows whose commitment is not in dim_commitment',
           count(*)
    FROM bridge_commitment_indicator b ANTI JOIN dim_commitment c USING (commitment_id)
    UNION ALL
    SELECT 'bridge rows whose indicator is not in dim_indicator',
           count(*)
    FROM bridge_commitment_indicator b ANTI JOIN dim_indicator i USING (indicator_id)
    UNION ALL
    SELECT 'linked indicators without a direction (progress cannot be rated)',
           count(*)
    FROM bridge_commitment_indicator b JOIN dim_indicator i USING (indicator_id)
    WHERE i.direction IS NULL
    UNION ALL
    -- the key has no index (schemas/fact_observation.yaml): candidates are hashes equal to the next
    -- one in hash order (a sort holds half the memory of a hash aggregate over every key), then
    -- exact counts over those few rows only, so a hash collision cannot fail a publish
    SELECT 'fact_observation keys held more than once', count(*)
    FROM (
        SELECT 1 FROM fact_observation
        WHERE hash(indicator_id, country_iso3, period, sex, breakdown) IN (
            SELECT h FROM (
                SELECT h, lead(h) OVER (ORDER BY h) AS next_h
                FROM (SELECT hash(indicator_id, country_iso3, period, sex, breakdown) AS h FROM fact_observation))
            WHERE h = next_h)
        GROUP BY indicator_id, country_iso3, period, sex, breakdown HAVING count(*) > 1
    )
    UNION ALL
    SELECT 'quarantine rows recorded more than once', count(*)
    FROM (
        SELECT 1 FROM quarantine
        GROUP BY batch_id, source_file, source_row, record_key, rule_id HAVING count(*) > 1
    )
    UNION ALL
    SELECT 'no commitments loaded', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
    FROM dim_commitment
    UNION ALL
    SELECT 'no countries loaded', CASE WHEN count(*) = 0 THEN 1 ELSE 0 END
    FROM dim_country
)
SELECT check_name, n FROM checks WHERE n > 0;
