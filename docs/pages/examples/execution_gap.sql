select ticker, group_name, round(investment_intensity_pct, 1) as invest_pct,
       round(revenue_growth_yoy_pct, 1) as rev_growth_pct, round(operating_margin_change_pp, 1) as margin_chg_pp,
       round(stock_return_12m_vs_us_ai_leader_pp, 1) as vs_us_ai_pp,
       round(execution_gap, 2) as execution_gap, round(reward_gap, 2) as reward_gap
from marts.execution_gap
where fiscal_period_end = '2026-09-30'
order by execution_gap desc, ticker
limit 6;
