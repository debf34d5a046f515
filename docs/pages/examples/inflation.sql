select month_date, release_date, is_release_date_estimated as estimated,
       headline_yoy_pct_1dp as cpi_yoy, headline_mom_pct_1dp as cpi_mom,
       core_yoy_pct_1dp as core_yoy, core_mom_pct_1dp as core_mom, regime,
       headline_yoy_change_vs_previous_print_pp as yoy_chg_pp
from marts.inflation
where month_date >= '2025-08-01'
order by month_date;
