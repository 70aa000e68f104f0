{#
    The engine-specific SQL of this project lives in adapter-dispatched macros
    (dbt/macros/portable/): each has a `duckdb__` implementation (the one this project runs on
    today) and a `spark__` one (Apache Spark SQL, for the Spark issue), written against Spark's
    SQL reference. Each `duckdb__` implementation wraps what it returns in `duckdb_only`: the
    markers are SQL comments, and tests/test_portable_dbt.py removes the marked text from dbt's
    compiled SQL before it looks for DuckDB-only constructs anywhere else.
#}

{% macro duckdb_only(sql) -%}
    /* duckdb: */ {{ sql }} /* :duckdb */
{%- endmacro %}
