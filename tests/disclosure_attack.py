"""The tests' side of the disclosure attack: shown reporting values against their sources.

The attack itself (what an outsider can solve for from `reporting`) lives in
pipelines/publish/disclosure, where the publish step runs it on every build; the tests run the
same attack on their builds and add what only the team can check: every shown value equals its
unsuppressed source in `marts` (suppression may hide, never alter).
"""

from __future__ import annotations

import duckdb

from pipelines.publish.disclosure.relations import (  # noqa: F401  (the tests' entry points)
    attack_ae_control_chart,
    attack_published,
    unmodelled_columns,
)
from pipelines.publish.disclosure.solver import (  # noqa: F401
    Attack,
    Finding,
    wilson_bounds,
    wilson_preimage,
)

# reporting table -> (its unsuppressed source as SQL over the published file, key columns)
SOURCES = {
    "adverse_events": ("marts.adverse_events", ["month", "site_id", "ae_term"]),
    "ae_control_chart": ("marts.ae_control_chart", ["month", "site_id"]),
    "response_rates": ("marts.response_rates", ["cohort_month", "site_id", "instrument", "measure"]),
    "response_by_infusion": (
        "marts.response_by_infusion",
        ["cohort_month", "site_id", "instrument", "infusion_number"],
    ),
    "quality_measures": ("marts.quality_measures", ["cohort_month", "site_id", "measure_id", "measure"]),
    "sustained_response": (
        "marts.sustained_response",
        ["cohort_month", "site_id", "instrument", "months_after_endpoint"],
    ),
    # the grid counted here, independently of the model, from the courses' times and the curve
    "relapse_survival": (
        """(SELECT g.instrument, g.days,
                   count(*) FILTER (WHERE t.days_to_event >= g.days) AS n_at_risk,
                   count(*) FILTER (WHERE t.has_relapsed AND t.days_to_event <= g.days) AS n_relapsed,
                   count(*) FILTER (WHERE NOT t.has_relapsed AND t.days_to_event <= g.days) AS n_censored,
                   coalesce(any_value(s.survival), 1.0) AS survival,
                   any_value(s.ci_low) AS ci_low, any_value(s.ci_high) AS ci_high
            FROM (SELECT DISTINCT instrument, days FROM reporting.relapse_survival) AS g
            JOIN marts.relapse_times AS t ON t.instrument = g.instrument
            LEFT JOIN LATERAL (SELECT * FROM marts.relapse_survival AS c
                               WHERE c.instrument = g.instrument AND c.days <= g.days
                               ORDER BY c.days DESC LIMIT 1) AS s ON true
            GROUP BY g.instrument, g.days)""",
        ["instrument", "days"],
    ),
    "score_trajectories": (
        "marts.score_trajectories",
        ["cohort_month", "site_id", "instrument", "timepoint"],
    ),
    "safety_signal_counts": ("marts.safety_signal_counts", ["month", "site_id", "reason"]),
    "response_rates_by_period": ("marts.response_rates_by_period",
                                 ["period_type", "period_start", "site_id", "instrument", "measure"]),
    "adverse_events_by_period": ("marts.adverse_events_by_period",
                                 ["period_type", "period_start", "site_id", "ae_term"]),
    "file_accounting": (
        """(SELECT export_month, export, count(*) AS n_files, sum(rows_read) AS rows_read,
                                   sum(rows_loaded) AS rows_loaded, sum(rows_quarantined) AS rows_quarantined,
                                   sum(duplicates_collapsed) AS duplicates_collapsed,
                                   sum(rows_held) AS rows_held, sum(rows_malformed) AS rows_malformed
                            FROM data_quality.file_accounting GROUP BY ALL)""",
        ["export_month", "export"],
    ),
    "quarantine_reasons": (
        """(SELECT export_month, export, reason, sum(n_rows) AS n_rows
                               FROM data_quality.quarantine_reasons GROUP BY ALL)""",
        ["export_month", "export", "reason"],
    ),
}


def mismatches_with_sources(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Every shown reporting value must equal its unsuppressed source, column by column by name.

    Suppression may hide a value (NULL), never alter it; rows may be neither added nor lost.
    """
    findings = []
    for table, (source, keys) in SOURCES.items():
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'reporting' "
                "AND table_name = ? AND database_name = current_database() "
                "AND column_name <> 'suppressed_cells' ORDER BY column_index",
                [table],
            ).fetchall()
        )
        if not types:
            findings.append(Finding(f"reporting.{table}", "table missing"))
            continue
        on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM s.{k}" for k in keys)
        values = [c for c in types if c not in keys]

        def differs(c: str, types: dict[str, str] = types) -> str:
            """A shown value unlike its source's: numbers within 1e-12, everything else exactly."""
            if types[c] in ("VARCHAR", "DATE", "BOOLEAN"):
                return f"(r.{c} IS NOT NULL AND r.{c} IS DISTINCT FROM s.{c})"
            return (
                f"(r.{c} IS NOT NULL AND (s.{c} IS NULL OR "
                f"abs(r.{c}::DOUBLE - s.{c}::DOUBLE) > 1e-12 * greatest(1, abs(s.{c}::DOUBLE))))"
            )

        unequal = " OR ".join(differs(c) for c in values)
        flags = ", ".join(f"{differs(c)} AS {c}" for c in values)
        rows = con.execute(f"""
            SELECT {", ".join(f"coalesce(r.{k}, s.{k})::VARCHAR" for k in keys)},
                   r.{keys[0]} IS NULL AS only_source, s.{keys[0]} IS NULL AS only_published, {flags}
            FROM reporting.{table} AS r FULL OUTER JOIN {source} AS s ON {on}
            WHERE r.{keys[0]} IS NULL OR s.{keys[0]} IS NULL OR {unequal}""").fetchall()
        for row in rows:
            key, (only_source, only_published, *flags_) = row[: len(keys)], row[len(keys) :]
            where = f"reporting.{table}[{', '.join(key)}]"
            if only_source:
                findings.append(Finding(where, "row of the source missing from reporting"))
            elif only_published:
                findings.append(Finding(where, "row not in the source"))
            else:
                for column, differs in zip(values, flags_, strict=True):
                    if differs:
                        findings.append(Finding(f"{where}.{column}", "shown value differs from the source"))
    return findings
