-- One row per commitment x country: how many linked indicators are in each progress status, the
-- overall status (the median of the indicators' statuses on the progress scale, as Open SDG
-- aggregates series), the latest data year, and for commitments no series measures, the latest
-- entry of the evidence register. Built on mart_commitment_progress (views build in name order).
CREATE OR REPLACE TABLE mart_commitment_scorecard AS
WITH ranked AS (
    SELECT p.*, t.rank
    FROM mart_commitment_progress p
    LEFT JOIN (SELECT DISTINCT status, rank FROM progress_thresholds
               UNION ALL SELECT 'target_achieved', 4) t USING (status)
),
per_country AS (
    SELECT
        commitment_id, any_value(theme) AS theme, any_value(commitment_text) AS commitment_text,
        country_iso3, any_value(country_name) AS country_name, any_value(group_name) AS group_name,
        count(*) AS indicators,
        count(*) FILTER (WHERE status = 'target_achieved') AS n_target_achieved,
        count(*) FILTER (WHERE status = 'on_track') AS n_on_track,
        count(*) FILTER (WHERE status = 'needs_acceleration') AS n_needs_acceleration,
        count(*) FILTER (WHERE status = 'limited_progress') AS n_limited_progress,
        count(*) FILTER (WHERE status = 'deterioration') AS n_deterioration,
        count(*) FILTER (WHERE status = 'not_available') AS n_not_available,
        quantile_disc(rank, 0.5) FILTER (WHERE rank IS NOT NULL) AS median_rank,
        max(latest_year) AS latest_data_year
    FROM ranked
    GROUP BY commitment_id, country_iso3
),
evidence AS (
    SELECT commitment_id, country_iso3,
           arg_max(status, (as_of, recorded_at, source_row)) AS evidence_status,
           max(as_of) AS evidence_as_of,
           arg_max(source_url, (as_of, recorded_at, source_row)) AS evidence_source
    FROM commitment_evidence
    GROUP BY ALL
)
SELECT
    c.commitment_id, c.theme, c.text AS commitment_text, c.measurability,
    k.country_iso3, k.country_name, k.group_name,
    coalesce(p.indicators, 0) AS indicators,
    coalesce(p.n_target_achieved, 0) AS n_target_achieved,
    coalesce(p.n_on_track, 0) AS n_on_track,
    coalesce(p.n_needs_acceleration, 0) AS n_needs_acceleration,
    coalesce(p.n_limited_progress, 0) AS n_limited_progress,
    coalesce(p.n_deterioration, 0) AS n_deterioration,
    coalesce(p.n_not_available, 0) AS n_not_available,
    coalesce(CASE p.median_rank WHEN 4 THEN 'target_achieved' WHEN 3 THEN 'on_track' WHEN 2 THEN 'needs_acceleration'
                                WHEN 1 THEN 'limited_progress' WHEN 0 THEN 'deterioration' END, 'not_available') AS status,
    p.latest_data_year,
    coalesce(e.evidence_status, a.evidence_status) AS evidence_status,
    coalesce(e.evidence_as_of, a.evidence_as_of) AS evidence_as_of,
    coalesce(e.evidence_source, a.evidence_source) AS evidence_source
FROM dim_commitment c
CROSS JOIN dim_country k
LEFT JOIN per_country p ON p.commitment_id = c.commitment_id AND p.country_iso3 = k.country_iso3
LEFT JOIN evidence e ON e.commitment_id = c.commitment_id AND e.country_iso3 = k.country_iso3
LEFT JOIN evidence a ON a.commitment_id = c.commitment_id AND a.country_iso3 = 'ALL'
WHERE k.wb_id IS NOT NULL OR p.indicators IS NOT NULL;
