-- One row per country: the commitments' picture there (indicator statuses counted from
-- mart_commitment_progress), how much data the warehouse holds for it, and its newest data year.
CREATE OR REPLACE TABLE mart_country_profile AS
WITH progress AS (
    SELECT country_iso3,
           count(*) AS links,
           count(*) FILTER (WHERE status IN ('target_achieved', 'on_track')) AS on_track,
           count(*) FILTER (WHERE status IN ('needs_acceleration', 'limited_progress')) AS slow,
           count(*) FILTER (WHERE status = 'deterioration') AS deteriorating,
           count(*) FILTER (WHERE status = 'not_available') AS not_available
    FROM mart_commitment_progress GROUP BY 1
),
data AS (
    SELECT country_iso3, count(*) AS observations, count(DISTINCT indicator_id) AS indicators,
           count(DISTINCT source_id) AS sources, max(year) AS newest_year
    FROM observation GROUP BY 1
)
SELECT k.country_iso3, k.country_name, k.group_name, k.is_focus,
       coalesce(p.links, 0) AS commitment_indicator_links,
       coalesce(p.on_track, 0) AS on_track, coalesce(p.slow, 0) AS progressing_slowly,
       coalesce(p.deteriorating, 0) AS deteriorating, coalesce(p.not_available, 0) AS not_available,
       coalesce(d.observations, 0) AS observations, coalesce(d.indicators, 0) AS indicators,
       coalesce(d.sources, 0) AS sources, d.newest_year
FROM dim_country k
LEFT JOIN progress p USING (country_iso3)
LEFT JOIN data d USING (country_iso3);
