"""The last check before a build is swapped in: nothing hidden in `reporting` can be solved for.

dbt hides small cells and their complements table by table, and releases a quarter's or year's
pooled count by a rule that sees one site's months (macros/suppress_pooled_cells.sql). What the
pools add up to across sites and tables only an integer program can tell, so before publish the
outsider's attack (relations.py) is run on the new file:
  - a hidden cell pinned through pooled counts is repaired by withholding every pool row those
    relations use (its counts, rates and intervals become NULL and are named in
    suppressed_cells), and the attack runs again;
  - any other finding (a monthly cell pinned without any pool, a derived value beside a hidden
    input, a published number the attack does not model), or one that withholding does not
    repair within MAX_ROUNDS, stops the publish: the previous build stays (fail closed).
Messages name where a cell is, never a value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import duckdb

from pipelines.publish.disclosure.relations import (
    AE_POOL,
    AE_POOL_SESSIONS,
    RESPONSE_POOL,
    attack_of,
    attack_published,
    period_start,
)
from pipelines.publish.disclosure.solver import Finding, Quantity

MAX_ROUNDS = 6  # each round reverts every pool group a finding used; more would mean a bug, not bad luck


@dataclass(frozen=True, eq=False)  # compared and hashed as the one object per table below
class PooledTable:
    """A pooled reporting table, the monthly table its counts are sums of, and what goes with what."""

    table: str
    monthly: str
    month_column: str
    keys: tuple[str, ...]  # besides the period and site_id
    counts: dict[str, tuple[str, ...]]  # count -> the keys (besides the period) of the group it reverts in
    derived: dict[str, tuple[str, ...]]  # column -> the counts it is built from


RESPONSES = PooledTable(
    "response_rates_by_period", "response_rates", "cohort_month", ("instrument", "measure"),
    counts={c: ("instrument", "measure") for c in ("n_eligible", "n_met", "n_missing_endpoint")},
    derived={c: ("n_met", "n_eligible") for c in ("rate", "ci_low", "ci_high")},
)
ADVERSE_EVENTS = PooledTable(
    "adverse_events_by_period", "adverse_events", "month", ("ae_term",),
    # a period's sessions are repeated in every term's row: they revert for all terms together
    counts={"n_sessions": (), **{c: ("ae_term",) for c in ("n_sessions_with_event", "n_grade_3_plus",
                                                           "n_serious")}},
    derived={c: ("n_sessions_with_event", "n_sessions")
             for c in ("rate_per_100_sessions", "ci_low", "ci_high")},
)

# (pooled table, count, ((column, value), ...)): one count of one group of pools, every site
Group = tuple[PooledTable, str, tuple[tuple[str, object], ...]]


class DisclosureRefused(RuntimeError):
    """The published file would let an outsider solve for a hidden cell: it is not published."""


@dataclass(frozen=True)
class Audit:
    """What the gate did to one build: recorded in meta.disclosure_audit and the asset's metadata."""

    hidden_cells: int  # hidden count cells the attack solved for, in the last round
    pools_withheld: int  # pooled count cells the gate hid
    rounds: int
    seconds: float


def pool_groups(cell: Quantity) -> list[Group]:
    """The quarter pool groups whose release can pin `cell`: its own for a quarter's pooled
    count, the year's four for a year's (a year follows its quarters), the month's quarter for a
    monthly count; [] for any other table."""
    tag = cell[0]
    if tag in (RESPONSE_POOL, AE_POOL, AE_POOL_SESSIONS):
        period_type, start = cell[1:3]
        quarters = ([start] if period_type == "quarter"
                    else [date(start.year, month, 1) for month in (1, 4, 7, 10)])
    elif tag in ("response_rates", "ae", "sessions"):
        quarters = [period_start(cell[1], "quarter")]
    else:
        return []
    if tag in (RESPONSE_POOL, "response_rates"):
        instrument, measure = cell[3:5] if tag == RESPONSE_POOL else cell[2:4]
        return [(RESPONSES, count, (("period_type", "quarter"), ("period_start", quarter),
                                    ("instrument", instrument), ("measure", measure)))
                for quarter in quarters for count in RESPONSES.counts]
    if tag in (AE_POOL, "ae"):
        term = cell[-2]
        return [(ADVERSE_EVENTS, count,
                 (("period_type", "quarter"), ("period_start", quarter), ("ae_term", term)))
                for quarter in quarters for count, keys in ADVERSE_EVENTS.counts.items() if keys]
    return [(ADVERSE_EVENTS, "n_sessions", (("period_type", "quarter"), ("period_start", quarter)))
            for quarter in quarters]


def repairs_for(findings: Iterable[Finding]) -> set[Group] | None:
    """The pool groups to take back to sums of shown months around every pinned cell; None when
    some finding cannot be repaired that way (a cell no pool can pin, or a broken rule)."""
    groups: set[Group] = set()
    for finding in findings:
        found = pool_groups(finding.cell) if finding.cell is not None else []
        if not found:
            return None
        groups |= set(found)
    return groups


def _hide(con: duckdb.DuckDBPyConnection, table: str, column: str, where: str, parameters: list) -> int:
    """Set `column` NULL where `where` holds (rows aliased p), naming it in suppressed_cells."""
    found = con.execute(f"""
        UPDATE reporting.{table} AS p
        SET {column} = NULL, suppressed_cells = list_append(p.suppressed_cells, '{column}')
        WHERE p.{column} IS NOT NULL AND ({where})""", parameters).fetchone()
    return found[0] if found else 0


def revert(con: duckdb.DuckDBPyConnection, groups: Iterable[Group]) -> int:
    """Hide, in each quarter group, every pooled count shown over a month where it is hidden.

    What stays shown is then a sum of shown monthly counts: it tells an outsider nothing the
    monthly table does not (the conservative rule, safe by construction). Then every year pool
    follows its quarters again (hidden where any of them hides the count, as the dbt rule says),
    and derived columns go with their counts. Every cell hidden here is named in suppressed_cells.
    """
    groups = list(groups)
    changed = 0
    for spec, count, group in groups:
        monthly = spec.monthly
        same = " AND ".join(f"m.{key} = p.{key}" for key in ("site_id", *spec.keys))
        in_period = f"m.{spec.month_column} BETWEEN p.period_start AND p.period_end"
        in_group = " AND ".join(f"p.{column} = ?" for column, _ in group)
        changed += _hide(con, spec.table, count, f"""{in_group} AND (
            NOT EXISTS (SELECT 1 FROM reporting.{monthly} AS m WHERE {same} AND {in_period})
            OR EXISTS (SELECT 1 FROM reporting.{monthly} AS m
                       WHERE {same} AND {in_period} AND m.{count} IS NULL))""",
                         [value for _, value in group])
    for spec in {spec for spec, _, _ in groups}:
        same = " AND ".join(f"q.{key} = p.{key}" for key in ("site_id", *spec.keys))
        for count in spec.counts:
            changed += _hide(con, spec.table, count, f"""p.period_type = 'year' AND EXISTS (
                SELECT 1 FROM reporting.{spec.table} AS q WHERE q.period_type = 'quarter' AND {same}
                AND q.period_start BETWEEN p.period_start AND p.period_end AND q.{count} IS NULL)""", [])
        for column, inputs in spec.derived.items():
            _hide(con, spec.table, column, " OR ".join(f"p.{c} IS NULL" for c in inputs), [])
    return changed


def audit_reporting(con: duckdb.DuckDBPyConnection, log: Callable[[str], None] = print) -> Audit:
    """Attack `reporting` in the file `con` writes; withhold pools until nothing is disclosed.

    Raises DisclosureRefused (naming places, never values) when that is not possible.
    """
    started = time.monotonic()
    withheld: set[Group] = set()
    changed = 0
    for round_ in range(1, MAX_ROUNDS + 2):
        attack = attack_of(con)
        findings = attack_published(con, attack)
        if not findings:
            return Audit(len(attack.hidden), changed, round_, round(time.monotonic() - started, 1))
        repairs = repairs_for(findings)
        if round_ > MAX_ROUNDS or repairs is None or repairs <= withheld:
            break
        changed += revert(con, repairs - withheld)
        withheld |= repairs
        log(f"disclosure audit, round {round_}: {len(findings)} hidden cells solvable through pooled counts; "
            f"{len(repairs)} pool groups back to sums of shown months, attacking again")
    places = sorted({finding.where for finding in findings})
    raise DisclosureRefused(
        f"{len(places)} published cells would disclose a suppressed count or break a publication rule "
        f"(first: {places[0]}); nothing was published, the previous build stays"
    )
