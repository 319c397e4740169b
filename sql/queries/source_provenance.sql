-- title: Where the figures come from: publisher, licence and address per indicator
-- description: For each indicator and each address it was loaded from: the source connector, the
--   publisher, the licence as stated, the rows, countries and periods held, and when the input was
--   retrieved and last updated by the publisher, from mart_source_provenance (derived
--   indicators show the series they were computed from).
-- param: indicator VARCHAR default null | an indicator_id, or words in the indicator's name (case-insensitive); null = every indicator
-- param: source VARCHAR default null | one source connector (e.g. worldbank, unodc, ohss_encounters); null = every source
-- example: indicator="country's share"
--
SELECT *
FROM mart_source_provenance
WHERE ($indicator IS NULL OR indicator_id = $indicator OR contains(lower(indicator_name), lower($indicator)))
  AND ($source IS NULL OR source_id = $source)
ORDER BY indicator_id, source_id, source_url
