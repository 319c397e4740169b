-- One row per commitment x linked indicator x country: where the indicator stood at the base year
-- (the last annual value at or before it, default 2017, the conference) and where it stands now.
-- Status respects the indicator's direction: improving, worsening, flat (change within the
-- indicator's flat band), context (an indicator with no better direction), or no data (no baseline, or nothing published after the baseline year).
CREATE OR REPLACE VIEW mart_commitment_progress AS
WITH annual AS (
    -- whole years only (calendar or US fiscal), the total breakdown, and figures read as published:
    -- part-year, to-date, lower-bound and document-stated values never enter a trend
    SELECT indicator_id, country_iso3, year, value, source_id
    FROM observation
    WHERE period_type IN ('year', 'us_fiscal_year')
      AND sex = 'total' AND breakdown = 'total'
      AND (qualifier IS NULL OR qualifier = 'rounded')
),
links AS (
    SELECT b.commitment_id, b.indicator_id, b.relation, b.base_year, b.rationale,
           c.theme, c.section, c.actors, c.action, c.text AS commitment_text,
           i.name AS indicator_name, i.unit, i.direction, i.flat_band, i.flat_band_kind,
           k.country_iso3, k.country_name, k.group_name
    FROM bridge_commitment_indicator b
    JOIN dim_commitment c USING (commitment_id)
    JOIN dim_indicator i USING (indicator_id)
    CROSS JOIN dim_country k
    -- a region (XMR, XCA) only where the indicator is published for it
    WHERE k.wb_id IS NOT NULL
       OR EXISTS (SELECT 1 FROM annual a WHERE a.indicator_id = b.indicator_id AND a.country_iso3 = k.country_iso3)
),
baseline AS (
    SELECT l.commitment_id, l.indicator_id, l.country_iso3,
           max(a.year) AS baseline_year,
           arg_max(a.value, a.year) AS baseline_value
    FROM links l
    JOIN annual a ON a.indicator_id = l.indicator_id AND a.country_iso3 = l.country_iso3 AND a.year <= l.base_year
    GROUP BY ALL
),
latest AS (
    SELECT indicator_id, country_iso3,
           max(year) AS latest_year,
           arg_max(value, year) AS latest_value,
           arg_max(source_id, year) AS source_id
    FROM annual
    GROUP BY ALL
),
measured AS (
    SELECT l.*, b.baseline_year, b.baseline_value, t.latest_year, t.latest_value, t.source_id,
           CASE WHEN t.latest_year > b.baseline_year THEN t.latest_value - b.baseline_value END AS change,
           CASE WHEN l.flat_band_kind = 'rel' THEN abs(b.baseline_value) * l.flat_band ELSE l.flat_band END AS band
    FROM links l
    LEFT JOIN baseline b USING (commitment_id, indicator_id, country_iso3)
    LEFT JOIN latest t USING (indicator_id, country_iso3)
)
SELECT
    commitment_id, theme, section, actors, action, commitment_text,
    indicator_id, indicator_name, unit, direction, relation, rationale,
    country_iso3, country_name, group_name,
    base_year, baseline_year, baseline_value,
    CAST(latest_year AS VARCHAR) AS latest_period, latest_year, latest_value,
    change,
    CASE WHEN baseline_value <> 0 THEN 100.0 * change / abs(baseline_value) END AS change_pct,
    CASE
        WHEN change IS NULL THEN 'no data'
        WHEN abs(change) <= coalesce(band, 0) THEN 'flat'
        WHEN direction = 'neutral' THEN 'context'
        WHEN (change > 0) = (direction = 'higher') THEN 'improving'
        ELSE 'worsening'
    END AS status,
    source_id
FROM measured;
