-- The latest whole-year value of every indicator for every country (totals only), with the value a
-- year and five years before it, the catalog's unit and direction, and where it came from.
CREATE OR REPLACE TABLE mart_indicator_latest AS
WITH annual AS (
    SELECT indicator_id, country_iso3, year, period, value, source_id, publisher, source_url, retrieved_at
    FROM observation
    WHERE period_type IN ('year', 'us_fiscal_year') AND sex = 'total' AND breakdown = 'total'
      AND (qualifier IS NULL OR qualifier = 'rounded')
),
latest AS (
    SELECT indicator_id, country_iso3, max(year) AS latest_year FROM annual GROUP BY ALL
)
SELECT
    a.indicator_id, i.name AS indicator_name, i.unit, i.direction, i.theme,
    a.country_iso3, k.country_name, k.group_name,
    a.period AS latest_period, a.year AS latest_year, a.value AS latest_value,
    p1.value AS value_year_before, p5.value AS value_five_years_before,
    a.source_id, a.publisher, a.source_url, a.retrieved_at
FROM latest l
JOIN annual a USING (indicator_id, country_iso3)
JOIN dim_indicator i USING (indicator_id)
JOIN dim_country k USING (country_iso3)
LEFT JOIN annual p1 ON p1.indicator_id = a.indicator_id AND p1.country_iso3 = a.country_iso3 AND p1.year = a.year - 1
LEFT JOIN annual p5 ON p5.indicator_id = a.indicator_id AND p5.country_iso3 = a.country_iso3 AND p5.year = a.year - 5
WHERE a.year = l.latest_year;
