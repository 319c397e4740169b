-- One staged batch as fact_observation rows, read where it lies (the batch's staging file, attached
-- as `stage`) by the rules and by the loader: the batch's constants (source, publisher, licence,
-- batch id) come from session variables, each file's name, retrieval and update date from
-- stage.files, the indicator's plausible range (for the range rules) from the catalog as it was
-- when the batch was staged. row_id is the staged row's position, in the order the parser read it.
SELECT
    s.row_id,
    s.indicator_id,
    s.country_iso3,
    s.period,
    s.period_type,
    s.period_start,
    s.period_end,
    s.year,
    coalesce(s.sex, 'total') AS sex,
    coalesce(s.breakdown, 'total') AS breakdown,
    s.value,
    s.value_text,
    s.unit,
    s.qualifier,
    s.note,
    CAST(getvariable('ciw_source_id') AS VARCHAR) AS source_id,
    CAST(getvariable('ciw_publisher') AS VARCHAR) AS publisher,
    CAST(getvariable('ciw_licence') AS VARCHAR) AS licence,
    coalesce(s.source_url, CAST(getvariable('ciw_address') AS VARCHAR)) AS source_url,
    s.citation,
    CAST(getvariable('ciw_batch_id') AS VARCHAR) AS batch_id,
    f.retrieved_at,
    coalesce(s.lastupdated, f.lastupdated) AS source_updated,
    f.source_file,
    s.source_row,
    i.valid_min,
    i.valid_max
FROM staged AS s  -- stage.staged with its row positions (flows/staging.py)
JOIN stage.files AS f ON f.file_idx = s.file_idx
LEFT JOIN stage.catalog_indicators AS i ON i.indicator_id = s.indicator_id
WHERE s.value IS NOT NULL OR s.value_text IS NOT NULL  -- a non-numeric value is kept, to be quarantined
