-- title: Where the figures come from: publisher, licence and address per indicator
-- description: For each indicator and each address it was loaded from: the source connector, the
--   publisher, the licence as stated, the rows, countries and periods held, and when the input was
--   retrieved and last updated by the publisher. Reads the `observation` view, so derived
--   indicators show the series they were computed from.
-- param: indicator VARCHAR default null | an indicator_id, or words in the indicator's name (case-insensitive); null = every indicator
-- param: source VARCHAR default null | one source connector (e.g. worldbank, unodc, ohss_encounters); null = every source
-- example: indicator="country's share"
--
SELECT
    o.indicator_id,
    i.name AS indicator_name,
    o.source_id,
    o.publisher,
    o.licence,
    o.source_url,
    count(*) AS rows,
    count(DISTINCT o.country_iso3) AS countries,
    min(o.period) AS first_period,
    max(o.period) AS last_period,
    max(o.retrieved_at) AS retrieved_at,
    max(o.source_updated) AS source_updated
FROM observation AS o
JOIN dim_indicator AS i USING (indicator_id)
WHERE ($indicator IS NULL OR o.indicator_id = $indicator OR contains(lower(i.name), lower($indicator)))
  AND ($source IS NULL OR o.source_id = $source)
GROUP BY ALL
ORDER BY o.indicator_id, o.source_id, o.source_url
