-- One row per commitment x linked indicator x country: where the indicator stood at the base year
-- (the last annual value at or before it; default 2017, the conference), where it stands now, and a
-- progress status by the Open SDG measure (data/catalog/progress/README.md): with a target, the
-- observed compound annual growth against the growth required to reach it on time; without one,
-- the direction-adjusted growth since the base year against fixed rates. Thresholds and targets are
-- catalog data (progress_thresholds, progress_targets), not constants here.
CREATE OR REPLACE TABLE mart_commitment_progress AS
WITH annual AS (
    -- whole years only (calendar or US fiscal), the total breakdown, and figures read as published:
    -- part-year, to-date, lower-bound and document-stated values never enter a trend
    SELECT indicator_id, country_iso3, year, period, value, source_id
    FROM observation
    WHERE period_type IN ('year', 'us_fiscal_year')
      AND sex = 'total' AND breakdown = 'total'
      AND (qualifier IS NULL OR qualifier = 'rounded')
      AND indicator_id IN (SELECT indicator_id FROM bridge_commitment_indicator)  -- linked series only
),
links AS (
    SELECT b.commitment_id, b.indicator_id, b.relation, b.base_year, b.rationale,
           c.theme, c.section, c.actors, c.action, c.text AS commitment_text,
           i.name AS indicator_name, i.unit, i.direction,
           CASE i.direction WHEN 'higher' THEN 1 WHEN 'lower' THEN -1 END AS d,
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
           arg_max(period, year) AS latest_period,
           arg_max(value, year) AS latest_value,
           arg_max(source_id, year) AS source_id
    FROM annual
    GROUP BY ALL
),
measured AS (
    SELECT l.*, b.baseline_year, b.baseline_value, t.latest_year, t.latest_period, t.latest_value, t.source_id,
           g.target_value, g.target_year,
           t.latest_year - b.baseline_year AS years,
           CASE WHEN t.latest_year > b.baseline_year THEN t.latest_value - b.baseline_value END AS change
    FROM links l
    LEFT JOIN baseline b USING (commitment_id, indicator_id, country_iso3)
    LEFT JOIN latest t USING (indicator_id, country_iso3)
    -- a target for this country wins over one for every country
    LEFT JOIN LATERAL (
        SELECT pt.target_value, pt.target_year FROM progress_targets pt
        WHERE pt.commitment_id = l.commitment_id AND pt.indicator_id = l.indicator_id
          AND pt.country_iso3 IN (l.country_iso3, 'ALL')
        ORDER BY pt.country_iso3 = 'ALL' LIMIT 1
    ) g ON true
),
growth AS (
    SELECT *,
           CASE
               WHEN change IS NULL OR d IS NULL OR baseline_value = 0 THEN NULL
               WHEN baseline_value > 0 AND latest_value > 0 THEN 'compound'
               ELSE 'linear'
           END AS growth_method,
           CASE
               WHEN change IS NULL OR d IS NULL OR baseline_value = 0 THEN NULL
               WHEN baseline_value > 0 AND latest_value > 0 THEN pow(latest_value / baseline_value, 1.0 / years) - 1
               ELSE (latest_value - baseline_value) / abs(baseline_value) / years
           END AS cagr_observed,
           CASE
               WHEN target_value IS NULL OR baseline_value IS NULL OR target_year <= baseline_year THEN NULL
               WHEN baseline_value > 0 AND target_value > 0 THEN pow(target_value / baseline_value, 1.0 / (target_year - baseline_year)) - 1
               WHEN baseline_value <> 0 THEN (target_value - baseline_value) / abs(baseline_value) / (target_year - baseline_year)
           END AS cagr_required
    FROM measured
),
scored AS (
    SELECT *,
           CASE WHEN target_value IS NOT NULL AND cagr_required IS NOT NULL AND cagr_required <> 0 AND cagr_observed IS NOT NULL
                THEN cagr_observed / cagr_required END AS progress_ratio,
           CASE
               WHEN target_value IS NOT NULL THEN 'target'
               ELSE 'trend'
           END AS method,
           CASE
               WHEN target_value IS NOT NULL AND cagr_required IS NOT NULL AND cagr_required <> 0 AND cagr_observed IS NOT NULL
                   THEN cagr_observed / cagr_required
               WHEN target_value IS NULL AND cagr_observed IS NOT NULL THEN d * cagr_observed
           END AS progress_measure
    FROM growth
)
SELECT
    s.commitment_id, s.theme, s.section, s.actors, s.action, s.commitment_text,
    s.indicator_id, s.indicator_name, s.unit, s.direction, s.relation, s.rationale,
    s.country_iso3, s.country_name, s.group_name,
    s.base_year, s.baseline_year, s.baseline_value,
    s.latest_period, s.latest_year, s.latest_value,
    s.change,
    CASE WHEN s.baseline_value <> 0 THEN 100.0 * s.change / abs(s.baseline_value) END AS change_pct,
    s.target_value, s.target_year, s.method, s.growth_method,
    s.cagr_observed, s.cagr_required, s.progress_ratio, s.progress_measure,
    CASE
        WHEN s.d IS NULL THEN 'not_available'
        WHEN s.target_value IS NOT NULL AND s.latest_value IS NOT NULL AND s.d * (s.latest_value - s.target_value) >= 0 THEN 'target_achieved'
        WHEN s.progress_measure IS NULL THEN 'not_available'
        ELSE (SELECT th.status FROM progress_thresholds th
              WHERE th.method = s.method AND s.progress_measure >= coalesce(th.min_value, -'infinity'::DOUBLE)
              ORDER BY th.rank DESC LIMIT 1)
    END AS status,
    CASE
        WHEN s.d IS NULL THEN 'the indicator has no better direction (context only)'
        WHEN s.baseline_value IS NULL THEN 'no value at or before the base year'
        WHEN s.latest_year IS NULL OR s.latest_year <= s.baseline_year THEN 'nothing published after the baseline year'
        WHEN s.baseline_value = 0 THEN 'baseline is zero: growth is not defined'
        WHEN s.method = 'target' THEN 'observed vs required growth to reach ' || CAST(s.target_value AS VARCHAR) || ' by ' || CAST(s.target_year AS VARCHAR)
        ELSE 'direction-adjusted ' || s.growth_method || ' annual growth since ' || CAST(s.baseline_year AS VARCHAR)
    END AS status_reason,
    s.source_id
FROM scored s;
