{#-
    Point in time, decided once. A number dated D on market M may use only what was public before the
    close of D's session on M: `available_at` (UTC; flows/availability.py states how each dataset gets
    it) strictly before that session's `close_at` (UTC, stg_raw__market_sessions, half days included).

    known_before_close(available_at, close_at)
        The condition, for a where clause or a join:
            where {{ known_before_close('reports.available_at', 'sessions.close_at') }}
        In an ASOF join, write the same inequality with the probe on the left:
            asof join reports on {{ known_before_close('reports.available_at', 'days.close_at') }}
        (DuckDB accepts `<` in ASOF conditions: the latest report strictly before the close.)
-#}
{% macro known_before_close(available_at, close_at) -%}
    {{ available_at }} < {{ close_at }}
{%- endmacro %}
