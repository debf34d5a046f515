select series_id, round(cum_return_usd * 100, 1) as cum_return_pct
from marts.relative_performance
where series_type <> 'security'
qualify trade_date = max(trade_date) over ()
order by series_id;
