-- title: U.S. assistance: the 2017 document's figures beside ForeignAssistance.gov
-- description: The assistance figures the conference document states (USD 1.3 billion FY2014-FY2017,
--   USD 655 million appropriated for FY2017, USD 460 million requested for FY2018) beside the sum
--   ForeignAssistance.gov publishes for the same fiscal years, over the Northern Triangle or Central
--   America, from mart_assistance_vs_document. Not like for like: country rows leave out regional
--   programmes the document's totals include.
-- param: country_group VARCHAR default null | Northern Triangle or Central America; null = both
-- example: "country_group=Northern Triangle"
--
SELECT
    stated_indicator,
    stated_period,
    stated_usd,
    published_indicator,
    published_measure,
    country_group,
    first_fiscal_year,
    last_fiscal_year,
    fiscal_years_published,
    countries_published,
    published_usd,
    difference_usd,
    published_share_of_stated
FROM mart_assistance_vs_document
WHERE $country_group IS NULL OR country_group = $country_group
ORDER BY stated_indicator, country_group
