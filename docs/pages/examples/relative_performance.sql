select series_id, round(100 * cum_return_usd, 1) as cum_pct, round(100 * return_12m_usd, 1) as r12m_pct,
       round(100 * return_ytd_usd, 1) as ytd_pct, round(100 * volatility_252d_ann, 1) as vol_pct,
       round(beta_252d, 2) as beta, round(100 * drawdown_usd, 1) as drawdown_pct,
       round(100 * real_cum_return_usd, 1) as real_pct
from marts.relative_performance
where series_type <> 'security' and trade_date = '2026-11-20'
order by series_id;
