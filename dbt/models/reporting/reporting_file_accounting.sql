-- data_quality.file_accounting per export month and export, with small cells suppressed.
--
-- The counts are export rows, not patients, but they leave the team in the monthly report, so
-- the same rule applies (CMS cell size suppression policy: no count of 1-10, none derivable
-- from the others; var small_cell_max). Their shape is an accounting identity, not a site
-- total: rows_read = rows_loaded + rows_quarantined + duplicates_collapsed, and rows_held and
-- rows_malformed are parts of rows_quarantined. So the cells to hide are decided here and
-- applied by the suppression macro (hidden_by):
-- 1. primary: a count of 1-10;
-- 2. a part of rows_quarantined whose rest (rows_quarantined minus it) is 1-10 while
--    rows_quarantined is shown;
-- 3. complementary: while rows_read is shown, one hidden part of it (or several summing to
--    1-10) could be recovered by subtraction, so the smallest shown part above the threshold
--    is hidden too (ties by column name), or rows_read when no part qualifies.
{%- set max_small = var('small_cell_max') %}
{%- set parts = ['rows_loaded', 'rows_quarantined', 'duplicates_collapsed'] %}
{%- set counts = ['n_files', 'rows_read', 'rows_loaded', 'rows_quarantined', 'duplicates_collapsed',
                  'rows_held', 'rows_malformed'] %}

{%- set decided -%}
(
    with accounting as (

        select
            export_month,
            export,
            count(*) as n_files,
            {%- for count in counts[1:] %}
            cast(sum({{ count }}) as bigint) as {{ count }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ ref('data_quality_file_accounting') }}
        group by export_month, export

    ),

    primary_cells as (

        select
            *,
            {%- for count in counts %}
            {{ count }} between 1 and {{ max_small }} as primary__{{ count }},
            {%- endfor %}
            not primary__rows_read and (
                {%- for part in parts %}cast(primary__{{ part }} as integer){{ ' + ' if not loop.last }}{% endfor -%}
            ) >= 1 and (
                ({%- for part in parts %}cast(primary__{{ part }} as integer){{ ' + ' if not loop.last }}{% endfor -%}) = 1
                or ({%- for part in parts %}case when primary__{{ part }} then {{ part }} else 0 end
                    {{- ' + ' if not loop.last }}{% endfor -%}) <= {{ max_small }}
            ) as needs_complement,
            {%- for part in parts %}
            not primary__{{ part }} and {{ part }} > {{ max_small }} as candidate__{{ part }}{{ ',' if not loop.last }}
            {%- endfor %}
        from accounting

    )

    select
        *,
        {%- for part in parts %}
        primary__{{ part }} or (needs_complement and candidate__{{ part }}
            {%- for other in parts if other != part %}
            and (not candidate__{{ other }} or {{ part }} {{ '<=' if part < other else '<' }} {{ other }})
            {%- endfor %}) as hide__{{ part }},
        {%- endfor %}
        primary__rows_read or (needs_complement
            {%- for part in parts %} and not candidate__{{ part }}{% endfor %}) as hide__rows_read,
        false as hide__n_files,  -- a count of files, not of people or rows: never hidden
        {%- for part in ['rows_held', 'rows_malformed'] %}
        primary__{{ part }} or (not primary__rows_quarantined
            and (rows_quarantined - {{ part }}) between 1 and {{ max_small }}) as hide__{{ part }}
            {{- ',' if not loop.last }}
        {%- endfor %}
    from primary_cells
)
{%- endset %}

{%- set hidden_by = {} %}
{%- for count in counts %}{% do hidden_by.update({count: 'hide__' ~ count}) %}{% endfor %}

{{ suppress_small_cells(
    relation=decided,
    keys=['export_month', 'export'],
    counts=counts,
    columns=['export_month', 'export'] + counts,
    hidden_by=hidden_by,
    part='export',
) }}
