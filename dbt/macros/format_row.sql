{#
    Override of dbt-core 1.11's `format_row` (global_project/macros/unit_test_sql/get_fixture_sql.sql),
    the macro that turns a unit-test fixture row into casted SQL literals. One change: an empty
    string becomes NULL.

    Why: a unit test that lists a seed as `input: ref('seed')` without rows uses the real seed,
    but dbt reads its CSV as text, so an empty cell arrives as '' and `cast('' as integer)`
    fails. `dbt seed` itself loads an empty cell as NULL; this makes fixtures agree with it.
    Fixtures in this project never need an empty string.
#}
{%- macro format_row(row, column_name_to_data_types) -%}
    {% set formatted_row = {} %}
    {%- for column_name, column_value in row.items() -%}
        {% set column_name = column_name|lower %}

        {%- if column_name not in column_name_to_data_types %}
            {% set fixture_name = "expected output" if model.resource_type == 'unit_test' else ("'" ~ model.name ~ "'") %}
            {{ exceptions.raise_compiler_error(
                "Invalid column name: '" ~ column_name ~ "' in unit test fixture for " ~ fixture_name ~ "."
                "\nAccepted columns for " ~ fixture_name ~ " are: " ~ (column_name_to_data_types.keys()|list)
            ) }}
        {%- endif -%}

        {%- set column_type = column_name_to_data_types[column_name] %}

        {%- if column_value is string and 'varying' in column_type -%}
            {%- set column_type = column_type.split('(')[0] -%}
        {%- endif -%}

        {%- set column_value_clean = column_value -%}
        {%- if column_value is none or (column_value is string and column_value == '') -%}
            {%- set column_value_clean = 'null' -%}
        {%- elif column_value is string -%}
            {%- set column_value_clean = dbt.string_literal(dbt.escape_single_quotes(column_value)) -%}
        {%- endif -%}

        {%- set row_update = {column_name: safe_cast(column_value_clean, column_type) } -%}
        {%- do formatted_row.update(row_update) -%}
    {%- endfor -%}
    {{ return(formatted_row) }}
{%- endmacro -%}
