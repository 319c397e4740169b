-- Any source's parsed rows (schemas/parsed_observation.yaml, with the file's index in place of its
-- name -> `parsed`) normalised once into the batch's staging file (stage.staged); the defaults for
-- what a layout lacks are decided here, for every source. Written once, by one streaming query, so
-- a 10M-row batch is never held in memory; sql/staging/batch.sql adds the batch's provenance when
-- the rules or the loader read it.
-- Periods listed without a value are kept here (run_log counts them as rows_null) and left out by batch.sql.
WITH p AS (
    SELECT
        *,
        nullif(trim(period), '') AS period_clean,
        -- a plain World Bank style label says its own type: 2022, 2022M01, 2022Q1
        CASE
            WHEN period_type IS NOT NULL THEN period_type
            WHEN regexp_full_match(trim(period), '\d{4}') THEN 'year'
            WHEN regexp_full_match(trim(period), '\d{4}M(0[1-9]|1[0-2])') THEN 'month'
            WHEN regexp_full_match(trim(period), '\d{4}Q[1-4]') THEN 'quarter'
        END AS period_kind
    FROM parsed
),
d AS (
    SELECT
        *,
        coalesce(period_start, CASE period_kind
            WHEN 'year' THEN make_date(TRY_CAST(period_clean AS INTEGER), 1, 1)
            WHEN 'month' THEN make_date(TRY_CAST(substr(period_clean, 1, 4) AS INTEGER), TRY_CAST(substr(period_clean, 6, 2) AS INTEGER), 1)
            WHEN 'quarter' THEN make_date(TRY_CAST(substr(period_clean, 1, 4) AS INTEGER), 3 * TRY_CAST(substr(period_clean, 6, 1) AS INTEGER) - 2, 1)
        END) AS start_date
    FROM p
)
SELECT
    nullif(trim(d.indicator_id), '') AS indicator_id,
    d.indicator_name,
    nullif(upper(trim(d.country_iso3)), '') AS country_iso3,
    d.period_clean AS period,
    d.period_kind AS period_type,
    d.start_date AS period_start,
    coalesce(d.period_end, CASE d.period_kind
        WHEN 'year' THEN d.start_date + INTERVAL 1 YEAR - INTERVAL 1 DAY
        WHEN 'month' THEN d.start_date + INTERVAL 1 MONTH - INTERVAL 1 DAY
        WHEN 'quarter' THEN d.start_date + INTERVAL 3 MONTH - INTERVAL 1 DAY
    END)::DATE AS period_end,
    coalesce(d.year, TRY_CAST(substr(d.period_clean, 1, 4) AS INTEGER)) AS year,
    nullif(lower(trim(d.sex)), '') AS sex,  -- 'total' when null, filled in by batch.sql: a column of
    nullif(trim(d.breakdown), '') AS breakdown,  -- the same word costs seconds to store at 10M rows
    d.value,
    d.value_text,
    nullif(trim(d.unit), '') AS unit,
    d.qualifier,
    d.note,
    nullif(d.source_url, '') AS source_url,
    d.citation,
    d.lastupdated,
    d.file_idx,
    d.source_row
FROM d
