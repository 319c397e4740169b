-- World Bank API rows (flows/sources/worldbank.parse_files -> `parsed`) shaped into a
-- fact_observation batch, plus the context the suite's row rules need (the unit's plausible range
-- from the catalog). Periods listed without a value are not observations: they are counted in
-- run_log.rows_null and left out here.
SELECT
    row_number() OVER (ORDER BY p.source_file, p.source_row) AS row_id,
    nullif(trim(p.indicator_id), '') AS indicator_id,
    nullif(upper(trim(p.country_iso3)), '') AS country_iso3,
    nullif(trim(p.period), '') AS period,
    TRY_CAST(substr(p.period, 1, 4) AS INTEGER) AS year,
    p.value,
    p.value_text,
    CAST($source_id AS VARCHAR) AS source_id,
    CAST($batch_id AS VARCHAR) AS batch_id,
    coalesce(r.retrieved_at, CAST($retrieved_at AS TIMESTAMP)) AS retrieved_at,
    p.lastupdated AS source_updated,
    p.source_file,
    p.source_row,
    i.valid_min,
    i.valid_max
FROM parsed AS p
LEFT JOIN catalog_indicators AS i ON i.indicator_id = p.indicator_id
LEFT JOIN retrievals AS r ON r.source_file = p.source_file
WHERE p.value IS NOT NULL OR p.value_text IS NOT NULL  -- a non-numeric value is kept, to be quarantined
