select ticker, event_trade_date, estimation_days, round(beta, 2) as beta,
       round(car_m1_p1_pct, 2) as car_m1_p1_pct, round(car_m1_p1_t_stat, 2) as t_stat
from marts.policy_event_impact
where event_id = '2022-10-07-bis-advanced-computing-rule' and group_name = 'china_tech'
order by car_m1_p1_pct, ticker;
