-- Any source's parsed rows (schemas/parsed_observation.yaml -> `parsed`) shaped into a
-- fact_observation batch, plus the context the suites' row rules need (the indicator's plausible
-- range from the catalog). One query for every source: a parser only maps its layout; the defaults
-- for what a layout lacks are decided here, once.
-- Periods listed without a value are not observations: they are counted in run_log.rows_null.
-- Defined as a view over the parser's Arrow output (batch constants come from session variables,
-- which a view can read and a prepared parameter cannot): the rules scan it where it lies and the
-- loader writes it once, into fact_observation.
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
    d.row_id,  -- numbered by the loader as the parser returned them (a window here serialises the query)
    nullif(trim(d.indicator_id), '') AS indicator_id,
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
    coalesce(nullif(lower(trim(d.sex)), ''), 'total') AS sex,
    coalesce(nullif(trim(d.breakdown), ''), 'total') AS breakdown,
    d.value,
    d.value_text,
    nullif(trim(d.unit), '') AS unit,
    d.qualifier,
    d.note,
    CAST(getvariable('ciw_source_id') AS VARCHAR) AS source_id,
    CAST(getvariable('ciw_publisher') AS VARCHAR) AS publisher,
    CAST(getvariable('ciw_licence') AS VARCHAR) AS licence,
    coalesce(nullif(d.source_url, ''), CAST(getvariable('ciw_address') AS VARCHAR)) AS source_url,
    d.citation,
    CAST(getvariable('ciw_batch_id') AS VARCHAR) AS batch_id,
    coalesce(r.retrieved_at, CAST(getvariable('ciw_retrieved_at') AS TIMESTAMP)) AS retrieved_at,
    d.lastupdated AS source_updated,
    d.source_file,
    d.source_row,
    i.valid_min,
    i.valid_max
FROM d
LEFT JOIN catalog_indicators AS i ON i.indicator_id = d.indicator_id
LEFT JOIN retrievals AS r ON r.source_file = d.source_file
WHERE d.value IS NOT NULL OR d.value_text IS NOT NULL  -- a non-numeric value is kept, to be quarantined
