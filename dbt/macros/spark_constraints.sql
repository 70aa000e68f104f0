{#
    Contracts on Spark: dbt-spark enforces a model's not_null constraints only on Delta tables
    (ALTER COLUMN ... SET NOT NULL); this project's Spark tables are Parquet, which has no
    constraints. Instead of leaving them unchecked, the columns a contract declares not_null are
    counted for NULLs once the table is written, and the model fails when one holds any: the
    build stops before publish, as a DuckDB build does on the same rows.
#}
{% macro spark__persist_constraints(relation, model) -%}
    {%- if execute and config.get('contract').enforced -%}
        {%- set checked = [] -%}
        {%- for name, column in model.columns.items() -%}
            {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list -%}
                {%- do checked.append(name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if checked -%}
            {%- set sums = [] -%}
            {%- for name in checked -%}
                {%- do sums.append("sum(case when " ~ name ~ " is null then 1 else 0 end) as " ~ name) -%}
            {%- endfor -%}
            {%- set found = run_query("select " ~ sums | join(", ") ~ " from " ~ relation).rows[0] -%}
            {%- set nulls = [] -%}
            {%- for name in checked -%}
                {%- if (found[loop.index0] or 0) > 0 -%}
                    {%- do nulls.append(name ~ " (" ~ found[loop.index0] ~ " rows)") -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if nulls -%}
                {{ exceptions.raise_compiler_error("contract of " ~ model.name ~ ": NULL in not_null column(s) "
                                                   ~ nulls | join(", ")) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
