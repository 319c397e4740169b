-- title: Annual series of one indicator, with its source
-- description: The whole-year values (calendar or US fiscal year) of one indicator for the chosen
--   countries, total sex and breakdown only, from the `observation` view (published plus derived
--   rows). Every value carries its publisher, source address and qualifier, so it can be cited.
-- param: indicator VARCHAR required | indicator_id from dim_indicator (e.g. VC.IHR.PSRC.P5, GC.TAX.TOTL.GD.ZS)
-- param: country VARCHAR[] default GTM,HND,SLV | countries (ISO3, comma-separated); null = every country or region
-- param: from_year INTEGER default 2010 | first year shown
-- param: to_year INTEGER default null | last year shown; null = up to the latest
-- example: indicator=GC.TAX.TOTL.GD.ZS
--
SELECT
    o.indicator_id,
    i.name AS indicator_name,
    coalesce(o.unit, i.unit) AS unit,
    o.country_iso3,
    c.country_name,
    o.period,
    o.year,
    o.value,
    o.qualifier,
    o.source_id,
    o.publisher,
    o.source_url
FROM observation AS o
JOIN dim_indicator AS i USING (indicator_id)
LEFT JOIN dim_country AS c USING (country_iso3)
WHERE o.indicator_id = $indicator
  AND o.period_type IN ('year', 'us_fiscal_year')
  AND o.sex = 'total'
  AND o.breakdown = 'total'
  AND ($country IS NULL OR list_contains($country, o.country_iso3))
  AND o.year >= $from_year
  AND ($to_year IS NULL OR o.year <= $to_year)
ORDER BY o.country_iso3, o.year
