{#
    Seeds on Spark: dbt-spark 1.11's session connection puts each seed value into the SQL as
    '<value>' without escaping (an apostrophe in stop_reasons.csv breaks the statement) and turns
    an empty cell into the text 'None'. This replaces its load_csv_rows (dbt looks in the root
    project first) with literals written here: NULL for an empty cell, numbers and booleans as
    they are, text quoted with Spark's backslash escapes. Seeds are small: one statement each.
#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for column in agate_table.column_names -%}
        {%- do types.append(column_override.get(column, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set sql -%}
        insert into {{ this.render() }} values
        {% for row in agate_table.rows -%}
            ({%- for value in row -%}
                cast({{ spark_seed_literal(value) }} as {{ types[loop.index0] }}){{ ", " if not loop.last }}
            {%- endfor -%}){{ ",\n" if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- if agate_table.rows | length > 0 -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {%- endif -%}
    {{ return(sql) }}
{%- endmacro %}

{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ (value | string).replace('\\', '\\\\').replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
