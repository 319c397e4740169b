-- The assistance figures the June 2017 conference document states (source document_figures,
-- Central America as a whole, XCA) beside what ForeignAssistance.gov publishes for the same fiscal
-- years, summed over the recipient countries of the Northern Triangle and of Central America:
--   "$1.3 billion allocated since 2014" (FY2014/FY2017)  <->  obligations, FY2014..FY2017
--   "$655 million in Fiscal Year 2017" (appropriated)    <->  appropriated and planned, FY2017
--   "FY 2018 budget request includes $460 million"       <->  President's budget requests, FY2018
-- The fiscal-year span comes from the stated period (FYa/FYb, or one fiscal year), not from here.
-- Published sums use whole fiscal years only (never FYyyyyYTD) and current dollars, as the
-- document does. The two sides are not like for like, which is the point of showing them together:
-- country rows leave out regional programmes (e.g. CARSI, "Central America Regional") that the
-- document's region totals include, and obligations count every U.S. agency's assistance, not only
-- the funds the document speaks of. fiscal_years_published / countries_published say how complete
-- each sum is.
CREATE OR REPLACE TABLE mart_assistance_vs_document AS
WITH stated AS (
    SELECT
        indicator_id AS stated_indicator,
        period AS stated_period,
        value AS stated_usd,
        coalesce(TRY_CAST(regexp_extract(period, '^FY(\d{4})/FY\d{4}$', 1) AS INTEGER), year) AS first_fiscal_year,
        year AS last_fiscal_year
    FROM fact_observation
    WHERE source_id = 'document_figures' AND country_iso3 = 'XCA' AND sex = 'total' AND breakdown = 'total'
),
pairs (stated_indicator, published_indicator, published_measure) AS (
    VALUES
        ('DOC.USG.ASSIST.ALLOCATED', 'FA.OBLIG.USD_CURRENT', 'obligations'),
        ('DOC.USG.ASSIST.APPROPRIATED', 'FA.APPROP.USD_CURRENT', 'appropriated and planned'),
        ('DOC.USG.ASSIST.REQUESTED', 'FA.REQ.USD_CURRENT', 'President''s budget requests')
),
country_groups (country_group, country_iso3) AS (
    VALUES
        ('Northern Triangle', 'SLV'), ('Northern Triangle', 'GTM'), ('Northern Triangle', 'HND'),
        ('Central America', 'BLZ'), ('Central America', 'CRI'), ('Central America', 'SLV'),
        ('Central America', 'GTM'), ('Central America', 'HND'), ('Central America', 'NIC'),
        ('Central America', 'PAN')
),
group_sizes AS (
    SELECT country_group, count(*) AS countries_in_group FROM country_groups GROUP BY country_group
),
published AS (
    SELECT indicator_id, country_iso3, year, value
    FROM fact_observation
    WHERE source_id = 'foreign_assistance' AND period_type = 'us_fiscal_year'
      AND sex = 'total' AND breakdown = 'total'
),
sums AS (
    SELECT
        s.stated_indicator, s.stated_period, s.stated_usd, s.first_fiscal_year, s.last_fiscal_year,
        p.published_indicator, p.published_measure, g.country_group,
        count(DISTINCT o.year) AS fiscal_years_published,
        count(DISTINCT o.country_iso3) AS countries_published,
        sum(o.value) AS published_usd
    FROM stated AS s
    JOIN pairs AS p USING (stated_indicator)
    CROSS JOIN group_sizes AS g
    JOIN country_groups AS c ON c.country_group = g.country_group
    LEFT JOIN published AS o
        ON o.indicator_id = p.published_indicator AND o.country_iso3 = c.country_iso3
       AND o.year BETWEEN s.first_fiscal_year AND s.last_fiscal_year
    GROUP BY ALL
)
SELECT
    u.stated_indicator,
    u.stated_period,
    u.stated_usd,
    u.published_indicator,
    u.published_measure,
    u.country_group,
    u.first_fiscal_year,
    u.last_fiscal_year,
    u.last_fiscal_year - u.first_fiscal_year + 1 AS fiscal_years_stated,
    u.fiscal_years_published,
    g.countries_in_group,
    u.countries_published,
    u.published_usd,
    u.published_usd - u.stated_usd AS difference_usd,
    u.published_usd / nullif(u.stated_usd, 0) AS published_share_of_stated
FROM sums AS u
JOIN group_sizes AS g USING (country_group)
ORDER BY u.first_fiscal_year, u.stated_indicator, u.country_group DESC;
