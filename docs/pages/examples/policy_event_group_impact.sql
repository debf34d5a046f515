select event_id, group_name, car_m1_p1_n as n, round(car_m1_p1_mean_pct, 2) as mean_car_pct,
       round(car_m1_p1_sd_pct, 2) as sd_pct, round(car_m1_p1_t_stat, 2) as t_stat
from marts.policy_event_group_impact
where category = 'export_control'
order by event_date, group_name;
