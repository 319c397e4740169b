-- title: Homicide rates, three publishers side by side
-- description: Intentional homicides per 100,000 people by country and year as the World Bank
--   (VC.IHR.PSRC.P5), UNODC (UNODC.HOM.RATE) and Our World in Data (OWID.HOMICIDE_RATE) each publish
--   them, one column per publisher: never averaged or merged, since their sources and revisions differ.
-- param: country VARCHAR[] default GTM,HND,SLV,MEX | countries (ISO3, comma-separated); null = every country
-- param: from_year INTEGER default 2010 | first year shown
-- example: country=GTM,HND,SLV,MEX from_year=2015
--
-- Total sex and breakdown only (UNODC also publishes by sex and mechanism).
WITH rates AS (
    SELECT country_iso3, year, indicator_id, value
    FROM observation
    WHERE indicator_id IN ('VC.IHR.PSRC.P5', 'UNODC.HOM.RATE', 'OWID.HOMICIDE_RATE')
      AND period_type = 'year' AND sex = 'total' AND breakdown = 'total'
      AND year >= $from_year
      AND ($country IS NULL OR list_contains($country, country_iso3))
)
SELECT
    r.country_iso3,
    c.country_name,
    r.year,
    max(r.value) FILTER (WHERE r.indicator_id = 'VC.IHR.PSRC.P5') AS world_bank,
    max(r.value) FILTER (WHERE r.indicator_id = 'UNODC.HOM.RATE') AS unodc,
    max(r.value) FILTER (WHERE r.indicator_id = 'OWID.HOMICIDE_RATE') AS owid
FROM rates AS r
LEFT JOIN dim_country AS c USING (country_iso3)
GROUP BY r.country_iso3, c.country_name, r.year
ORDER BY r.country_iso3, r.year
