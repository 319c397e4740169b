-- title: U.S. border encounters by citizenship and fiscal year (OHSS and CBP kept apart)
-- description: Encounters of each country's citizens per US fiscal year (October-September) from
--   the two publishers, in separate columns and never summed: DHS OHSS counts U.S. Border Patrol
--   encounters (all borders, and the southwest land border alone; rounded to 10), CBP counts
--   southwest land border encounters by Border Patrol and the Office of Field Operations together
--   (FY2022 on). A year-to-date row covers only part of a year, and the two publishers' to-date
--   rows end on different days (see the *_through columns).
-- param: citizenship VARCHAR[] default GTM,HND,SLV | citizenship (ISO3, comma-separated); null = every country published
-- param: from_fy INTEGER default 2014 | first US fiscal year shown
-- param: include_ytd BOOLEAN default false | also show the current fiscal year to date
-- example: citizenship=HND from_fy=2019 include_ytd=true
--
WITH enc AS (
    SELECT country_iso3, year, period_type, period, period_end, indicator_id, breakdown, value, qualifier
    FROM fact_observation
    WHERE indicator_id IN ('OHSS.USBP.ENCOUNTERS', 'CBP.SWB.ENCOUNTERS')
      AND breakdown IN ('total', 'region=southwest_land_border')
      AND sex = 'total'
      AND (period_type = 'us_fiscal_year' OR ($include_ytd AND period_type = 'us_fiscal_year_to_date'))
      AND year >= $from_fy
      AND ($citizenship IS NULL OR list_contains($citizenship, country_iso3))
),
ohss AS (
    SELECT country_iso3, year, any_value(period) AS period, max(period_end) AS through,
           max(value) FILTER (WHERE breakdown = 'total') AS usbp_all_borders,
           max(value) FILTER (WHERE breakdown = 'region=southwest_land_border') AS usbp_southwest_border,
           string_agg(DISTINCT qualifier, ',') AS qualifier
    FROM enc WHERE indicator_id = 'OHSS.USBP.ENCOUNTERS'
    GROUP BY country_iso3, year
),
cbp AS (
    SELECT country_iso3, year, any_value(period) AS period, max(period_end) AS through,
           max(value) FILTER (WHERE breakdown = 'total') AS swb_usbp_and_ofo
    FROM enc WHERE indicator_id = 'CBP.SWB.ENCOUNTERS'
    GROUP BY country_iso3, year
)
SELECT
    country_iso3 AS citizenship,
    c.country_name,
    year AS fiscal_year,
    ohss.period AS ohss_period,
    ohss.through AS ohss_through,
    ohss.usbp_all_borders AS ohss_usbp_all_borders,
    ohss.usbp_southwest_border AS ohss_usbp_southwest_border,
    ohss.qualifier AS ohss_qualifier,
    cbp.period AS cbp_period,
    cbp.through AS cbp_through,
    cbp.swb_usbp_and_ofo AS cbp_southwest_border_usbp_and_ofo
FROM ohss
FULL JOIN cbp USING (country_iso3, year)
LEFT JOIN dim_country AS c USING (country_iso3)
ORDER BY citizenship, fiscal_year
