"""An outsider's attack on the published `reporting` schema (issue #10).

Small-cell suppression (CMS cell size suppression policy, clinical-definitions.md) hides counts
of 1-10, and no hidden cell may be derivable from anything else that is published. This module
plays the outsider: it reads only the `reporting` tables of a published file, writes down every
relation between published numbers that a reader can know from the documentation
(docs/querying.md), and asks an integer program (scipy's `milp`, HiGHS) for the smallest and
largest value each hidden cell can take. A hidden cell is disclosed when the relations pin it
to one value, or to a range inside 1-10.

The relations are this module's own description of what each published column means, written
independently of the suppression macro, so that a column the macro forgets is still attacked:
  - sums: every `ALL` row is the sum of its site rows;
  - the same count repeated (sessions per month and site in adverse_events for every term, in
    ae_control_chart and as safety_signal_counts.n_sessions_given; courses assessed after
    infusion k in response_by_infusion and score_trajectories);
  - parts never exceed their whole (events <= sessions, grade 3+ <= events, a term <= `any`,
    responders <= assessed, held + malformed <= quarantined, ...);
  - data-quality accounting: rows_read = loaded + quarantined + collapsed, the `malformed_line`
    reason is the malformed count, quarantine reasons cover the quarantined rows;
  - the standard measures' denominators shared by their rates and their nested numerators; assessed
    responders at a durability checkpoint never above the responders; the relapse curve's
    cumulative counts never falling, and its shown steps never a count of 1-10;
  - derived numbers: a rate times its denominator is its numerator, a Wilson interval gives
    back its numerator and denominator, a control limit gives back its month's sessions, a
    trailing p_bar times the pooled sessions is the pooled events, a signal bounds the events.
Besides solving, the policy that no derived value is shown beside a hidden input of its own
row is checked, and every numeric column of `reporting` must be known here: a new published
number fails until its relations are written down.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import lil_matrix

from pipelines.transform.project import dbt_var

# The attacker knows the published rules (they are in dbt/dbt_project.yml and reference.rules).
SMALL_CELL_MAX = int(dbt_var("small_cell_max"))
WILSON_Z = 1.959963984540054  # the attacker's own: the 0.975 quantile of the standard normal
TRAILING_MONTHS = int(dbt_var("control_chart_baseline_months"))  # the months p_bar pools
UNBOUNDED = 10**7  # no count in these tables comes near; reaching it means "no upper bound"
TOLERANCE = 1e-6  # for relations through doubles (rates, p_bar, limits)
N_MAX_SCAN = 100_000  # denominators tried when inverting a Wilson interval

ORPHAN_REASONS = ("session_id.orphan", "patient_id.orphan")
MALFORMED_REASON = "malformed_line"
DATA_QUALITY_COUNTS = (
    "n_files",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "duplicates_collapsed",
    "rows_held",
    "rows_malformed",
)

Quantity = tuple  # a count's identity, e.g. ("sessions", month, site)


@dataclass(frozen=True)
class Finding:
    """A hidden cell the relations disclose, or a published number that breaks the rules."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class Relation:
    """lower <= sum(coefficient * quantity) <= upper."""

    terms: dict[Quantity, float]
    lower: float
    upper: float
    why: str


@dataclass
class Attack:
    """What an outsider knows: shown and hidden counts, and relations between them."""

    shown: dict[Quantity, int] = field(default_factory=dict)
    hidden: dict[Quantity, str] = field(default_factory=dict)  # quantity -> where it is hidden
    places: dict[Quantity, str] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    # --- what is published -------------------------------------------------------------
    def count(self, quantity: Quantity, value: int | None, where: str) -> Quantity:
        """A published count cell: shown (a number) or hidden (NULL)."""
        if value is None:
            if quantity in self.shown:
                if self.shown[quantity] != 0:
                    self.findings.append(
                        Finding(
                            where, f"hidden here, shown as {self.shown[quantity]} at {self.places[quantity]}"
                        )
                    )
            else:
                self.hidden.setdefault(quantity, where)
        else:
            if quantity in self.hidden:
                if value != 0:  # a zero may be shown (an absent row says 0 too)
                    self.findings.append(
                        Finding(self.hidden[quantity], f"hidden there, shown as {value} at {where}")
                    )
                del self.hidden[quantity]
            if quantity in self.shown and self.shown[quantity] != value:
                self.findings.append(
                    Finding(
                        where,
                        f"shows {value}, {self.places[quantity]} shows "
                        f"{self.shown[quantity]} for the same count",
                    )
                )
            self.shown.setdefault(quantity, int(value))
        self.places.setdefault(quantity, where)
        return quantity

    def relate(self, terms: dict[Quantity, float], lower: float, upper: float, why: str) -> None:
        merged: dict[Quantity, float] = defaultdict(float)
        for quantity, coefficient in terms.items():
            merged[quantity] += coefficient
        self.relations.append(Relation(dict(merged), lower, upper, why))

    def equal_sum(self, total: Quantity, parts: list[Quantity], why: str) -> None:
        self.relate({total: 1.0, **{p: -1.0 for p in parts}}, 0, 0, why)

    def at_most(self, part: Quantity, whole: Quantity, why: str) -> None:
        self.relate({part: 1.0, whole: -1.0}, -math.inf, 0, why)

    def ratio(self, value: float, numerator: Quantity, denominator: Quantity, scale: float, why: str) -> None:
        """value = scale * numerator / denominator, shown as a double."""
        self.relate({denominator: value, numerator: -scale}, -TOLERANCE, TOLERANCE, why)

    def wilson(
        self,
        low: float | None,
        high: float | None,
        successes: Quantity,
        trials: Quantity,
        scale: float,
        where: str,
    ) -> None:
        """A shown Wilson interval: the (successes, trials) pairs that give exactly this interval."""
        if low is None or high is None:
            return
        pairs = wilson_preimage(low / scale, high / scale)
        if not pairs:
            self.findings.append(Finding(where, f"Wilson interval [{low}, {high}] matches no count pair"))
            return
        events = [e for e, _ in pairs]
        trials_ = [n for _, n in pairs]
        why = f"Wilson interval at {where}"
        self.relate({trials: 1.0}, min(trials_), max(trials_), why)
        self.relate({successes: 1.0}, min(events), max(events), why)

    def derived_beside_hidden(
        self, where: str, column: str, value: object, inputs: dict[str, object]
    ) -> None:
        """Policy: a derived value is hidden when any count of its own row it is built from is."""
        if value is not None and any(v is None for v in inputs.values()):
            hidden = [name for name, v in inputs.items() if v is None]
            self.findings.append(Finding(where, f"{column} shown while {', '.join(hidden)} is hidden"))

    def rate_with_interval(
        self,
        row: dict[str, object],
        at: Callable[[str], str],
        numerator: str,
        denominator: str,
        quantities: tuple[Quantity, Quantity],
        rate: str = "rate",
        scale: float = 1.0,
    ) -> None:
        """A row's rate = scale x numerator / denominator and its Wilson interval (ci_low, ci_high)."""
        successes, trials = quantities
        inputs = {numerator: row[numerator], denominator: row[denominator]}
        for column in (rate, "ci_low", "ci_high"):
            self.derived_beside_hidden(at(column), column, row[column], inputs)
        if row[rate] is not None:
            self.ratio(row[rate], successes, trials, scale, at(rate))
        self.wilson(row["ci_low"], row["ci_high"], successes, trials, scale, at("ci_low"))

    # --- the outsider's solver ------------------------------------------------------------
    def solve(self) -> list[Finding]:
        """Smallest and largest value of every hidden cell under all relations (integer program)."""
        findings = list(self.findings)
        unknown = sorted(self.hidden, key=repr)
        index = {q: i for i, q in enumerate(unknown)}
        rows: list[tuple[dict[int, float], float, float, str]] = []
        for relation in self.relations:
            known = sum(c * self.shown[q] for q, c in relation.terms.items() if q in self.shown)
            # a quantity with no published row (a site without sessions that month) is 0
            free = {index[q]: c for q, c in relation.terms.items() if q in index and c != 0}
            lower, upper = relation.lower - known, relation.upper - known
            if not free:
                slack = TOLERANCE * max(1.0, abs(known))
                if not (lower - slack <= 0 <= upper + slack):
                    findings.append(
                        Finding(
                            relation.why,
                            f"published numbers contradict the relation "
                            f"(off by {min(abs(lower), abs(upper)):.6g})",
                        )
                    )
                continue
            rows.append((free, lower, upper, relation.why))
        for component in _components(len(unknown), rows):
            findings.extend(self._solve_component([unknown[i] for i in component], component, rows))
        return findings

    def _solve_component(
        self,
        quantities: list[Quantity],
        members: list[int],
        rows: list[tuple[dict[int, float], float, float, str]],
    ) -> list[Finding]:
        local = {g: i for i, g in enumerate(members)}
        mine = [r for r in rows if next(iter(r[0])) in local]
        n = len(members)
        matrix = lil_matrix((max(len(mine), 1), n))
        lower = np.full(max(len(mine), 1), -np.inf)
        upper = np.full(max(len(mine), 1), np.inf)
        for k, (free, lo, hi, _) in enumerate(mine):
            for g, c in free.items():
                matrix[k, local[g]] = c
            lower[k], upper[k] = lo, hi
        constraints = LinearConstraint(matrix.tocsr(), lower, upper)
        integrality = np.ones(n)
        bounds = (np.zeros(n), np.full(n, float(UNBOUNDED)))
        seen_low = np.full(n, np.inf)
        seen_high = np.full(n, -np.inf)
        lowest = np.full(n, np.nan)
        highest = np.full(n, np.nan)
        findings = []

        def note(x: np.ndarray) -> None:
            values = np.round(x)
            np.minimum(seen_low, values, out=seen_low)
            np.maximum(seen_high, values, out=seen_high)

        for i in range(n):
            # Already proven safe by solutions found so far: two values, one of them 0 or above 10.
            if seen_low[i] < seen_high[i] and (seen_low[i] <= 0 or seen_high[i] > SMALL_CELL_MAX):
                continue
            for sense in (1.0, -1.0):
                objective = np.zeros(n)
                objective[i] = sense
                result = milp(objective, integrality=integrality, bounds=bounds, constraints=constraints)
                if result.status != 0 or result.x is None:
                    where = self.hidden[quantities[i]]
                    return [
                        Finding(where, f"the published relations have no integer solution ({result.message})")
                    ]
                note(result.x)
                if sense > 0:
                    lowest[i] = round(result.x[i])
                else:
                    highest[i] = round(result.x[i])
            low, high = lowest[i], highest[i]
            where = f"{self.hidden[quantities[i]]}"
            if low == high:
                findings.append(Finding(where, f"hidden cell pinned to {int(low)}"))
            elif low >= 1 and high <= SMALL_CELL_MAX:
                findings.append(Finding(where, f"hidden cell pinned to {int(low)}-{int(high)}"))
        return findings


def _components(n: int, rows: list[tuple[dict[int, float], float, float, str]]) -> list[list[int]]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for free, *_ in rows:
        first, *rest = free
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[a] = b
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return list(groups.values())


def wilson_bounds(successes: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) 95% interval as the dbt macro computes it (0/n -> low 0, n/n -> high 1)."""
    z = WILSON_Z
    n = trials.astype(float)
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = np.where(successes == 0, 0.0, (centre - half) / (1 + z * z / n))
    high = np.where(successes == trials, 1.0, (centre + half) / (1 + z * z / n))
    return low, high


def wilson_preimage(low: float, high: float) -> list[tuple[int, int]]:
    """Every (successes, trials) with trials <= N_MAX_SCAN whose Wilson interval is [low, high]."""
    z = WILSON_Z
    trials = np.arange(1, N_MAX_SCAN + 1)
    centre = (low + high) / 2
    p_hat = centre * (1 + z * z / trials) - z * z / (2 * trials)
    guesses = np.rint(p_hat * trials).astype(np.int64)
    pairs = set()
    for candidate in (guesses - 1, guesses, guesses + 1, np.zeros_like(trials), trials):
        ok = (candidate >= 0) & (candidate <= trials)
        k, n = candidate[ok], trials[ok]
        lo, hi = wilson_bounds(k, n)
        match = (np.abs(lo - low) <= 1e-9) & (np.abs(hi - high) <= 1e-9)
        pairs.update(zip(k[match].tolist(), n[match].tolist(), strict=True))
    return sorted(pairs)


# --- what each published table means ---------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, object]]:
    cursor = con.execute(f"SELECT * FROM reporting.{table}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _where(table: str, row: dict[str, object], keys: list[str], column: str) -> str:
    return f"reporting.{table}.{column}[" + ", ".join(str(row[k]) for k in keys) + "]"


def _site_sums(attack: Attack, groups: dict[tuple, dict[str, Quantity]], why: str) -> None:
    """Per group of rows that differ only in site: the ALL quantity is the sum of the sites'."""
    for sites in groups.values():
        if "ALL" in sites:
            attack.equal_sum(sites["ALL"], [q for s, q in sites.items() if s != "ALL"], why)


def attack_adverse_events(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["month", "site_id", "ae_term"]
    counts = ("n_sessions_with_event", "n_grade_3_plus", "n_serious", "n_stopped_early_for_event")
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    rows = _rows(con, "adverse_events")
    for row in rows:
        month, site, term = row["month"], row["site_id"], row["ae_term"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("adverse_events", row, keys, column)

        sessions = attack.count(("sessions", month, site), row["n_sessions"], at("n_sessions"))
        sums[("sessions", month)][site] = sessions
        quantities = {c: attack.count(("ae", month, site, term, c), row[c], at(c)) for c in counts}
        for c, q in quantities.items():
            sums[("ae", month, term, c)][site] = q
        events = quantities["n_sessions_with_event"]
        attack.at_most(events, sessions, "events <= sessions")
        for c in counts[1:]:
            attack.at_most(quantities[c], events, f"{c} <= sessions with the event")
            if term != "any":
                attack.at_most(quantities[c], ("ae", month, site, "any", c), f"{c} of a term <= of any")
        if term != "any":
            attack.at_most(events, ("ae", month, site, "any", "n_sessions_with_event"), "a term <= any")
        attack.rate_with_interval(
            row,
            at,
            "n_sessions_with_event",
            "n_sessions",
            (events, sessions),
            rate="rate_per_100_sessions",
            scale=100.0,
        )
    _site_sums(attack, sums, "ALL = sum of sites (adverse_events)")


def attack_ae_control_chart(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["month", "site_id"]
    rows = _rows(con, "ae_control_chart")
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    by_site: dict[str, dict[date, tuple[Quantity, Quantity]]] = defaultdict(dict)
    centre_lines: list[tuple[str, date, float]] = []
    for row in rows:
        month, site = row["month"], row["site_id"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("ae_control_chart", row, keys, column)

        sessions = attack.count(("sessions", month, site), row["n_sessions"], at("n_sessions"))
        events = attack.count(
            ("ae", month, site, "any", "n_sessions_with_event"),
            row["n_sessions_with_any_ae"],
            at("n_sessions_with_any_ae"),
        )
        sums[("sessions", month)][site] = sessions
        sums[("any", month)][site] = events
        by_site[site][month] = (sessions, events)
        attack.at_most(events, sessions, "events <= sessions")
        both = {"n_sessions": row["n_sessions"], "n_sessions_with_any_ae": row["n_sessions_with_any_ae"]}
        attack.derived_beside_hidden(at("p"), "p", row["p"], both)
        attack.derived_beside_hidden(at("ucl"), "ucl", row["ucl"], {"n_sessions": row["n_sessions"]})
        attack.derived_beside_hidden(at("lcl"), "lcl", row["lcl"], {"n_sessions": row["n_sessions"]})
        attack.derived_beside_hidden(at("signal"), "signal", row["signal"], {**both, "p": row["p"]})
        if row["p"] is not None:
            attack.ratio(row["p"], events, sessions, 1.0, at("p"))
        p_bar = row["p_bar"]
        if p_bar is None and row["ucl"] is not None and row["lcl"] not in (None, 0.0):
            p_bar = (row["ucl"] + row["lcl"]) / 2  # symmetric limits give the centre line back
        if p_bar is not None and row["ucl"] is not None and 0 < p_bar < 1 and row["ucl"] > p_bar:
            # ucl - p_bar = 3 sqrt(p_bar (1 - p_bar) / n)  =>  n = 9 p_bar (1 - p_bar) / (ucl - p_bar)^2
            n = 9 * p_bar * (1 - p_bar) / (row["ucl"] - p_bar) ** 2
            attack.relate({sessions: 1.0}, n - 1e-4 * max(1, n), n + 1e-4 * max(1, n), f"ucl at {at('ucl')}")
        if row["signal"] is not None and row["ucl"] is not None:
            if row["signal"]:  # p > ucl
                attack.relate({events: 1.0, sessions: -row["ucl"]}, 0, math.inf, f"signal at {at('signal')}")
            else:
                attack.relate(
                    {events: 1.0, sessions: -row["ucl"]}, -math.inf, TOLERANCE, f"signal at {at('signal')}"
                )
        if p_bar is not None:
            centre_lines.append((site, month, p_bar))
    for site, month, p_bar in centre_lines:
        # p_bar = pooled events / pooled sessions over the 12 months before: linear, p_bar is known
        terms: dict[Quantity, float] = defaultdict(float)
        for pooled_month, (sessions, events) in by_site[site].items():
            if _months_before(pooled_month, month):
                terms[sessions] += p_bar
                terms[events] -= 1.0
        attack.relate(
            terms, -TOLERANCE * 10, TOLERANCE * 10, f"p_bar at reporting.ae_control_chart[{month}, {site}]"
        )
    _site_sums(attack, sums, "ALL = sum of sites (ae_control_chart)")


def _months_before(month: date, this_month: date) -> bool:
    """month lies in the 12 calendar months before this_month."""
    distance = (this_month.year - month.year) * 12 + this_month.month - month.month
    return 1 <= distance <= TRAILING_MONTHS


def attack_response_rates(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "instrument", "measure"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "response_rates"):
        group = (row["cohort_month"], row["instrument"], row["measure"])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("response_rates", row, keys, column)

        q = {
            c: attack.count(("response_rates", *group, row["site_id"], c), row[c], at(c))
            for c in ("n_eligible", "n_met", "n_missing_endpoint")
        }
        for c, quantity in q.items():
            sums[(*group, c)][row["site_id"]] = quantity
        attack.at_most(q["n_met"], q["n_eligible"], "met <= eligible")
        attack.rate_with_interval(row, at, "n_met", "n_eligible", (q["n_met"], q["n_eligible"]))
    _site_sums(attack, sums, "ALL = sum of sites (response_rates)")


# The standard measures' published rules (docs/querying.md, the quality_measure_rates seed): all
# index-event rates of a cohort month and site count the same index events; a remission (< 5 from
# an index score > 9) is a fall of more than 50%, so every remitter is a responder; a response
# needs a follow-up score.
QUALITY_INDEX_MEASURES = ("DRR-E", "CMS159", "NQF1885")
QUALITY_NESTED = (
    (("DRR-E", "remission"), ("DRR-E", "response")),
    (("DRR-E", "response"), ("DRR-E", "follow_up")),
    (("CMS159", "remission"), ("NQF1885", "response")),
)


def attack_quality_measures(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "measure_id", "measure"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    rates: dict[tuple, dict[tuple[str, str], Quantity]] = defaultdict(dict)
    for row in _rows(con, "quality_measures"):
        cohort, site, rate = row["cohort_month"], row["site_id"], (row["measure_id"], row["measure"])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("quality_measures", row, keys, column)

        population = "index_events" if rate[0] in QUALITY_INDEX_MEASURES else rate
        denominator = attack.count(
            ("quality_denominator", population, cohort, site), row["n_denominator"], at("n_denominator")
        )
        numerator = attack.count(
            ("quality_numerator", *rate, cohort, site), row["n_numerator"], at("n_numerator")
        )
        sums[("quality_denominator", population, cohort)][site] = denominator
        sums[("quality_numerator", *rate, cohort)][site] = numerator
        rates[(cohort, site)][rate] = numerator
        attack.at_most(numerator, denominator, "numerator <= denominator")
        attack.rate_with_interval(row, at, "n_numerator", "n_denominator", (numerator, denominator))
    for cell in rates.values():
        for part, whole in QUALITY_NESTED:
            if part in cell and whole in cell:
                attack.at_most(cell[part], cell[whole], f"{' '.join(part)} <= {' '.join(whole)}")
    _site_sums(attack, sums, "ALL = sum of sites (quality_measures)")


def attack_sustained_response(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """Courses assessed at a checkpoint are induction responders: at most response_rates' n_met
    (response) of the same cohort month, site and instrument."""
    keys = ["cohort_month", "site_id", "instrument", "months_after_endpoint"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "sustained_response"):
        cohort, site, instrument, months = (row[k] for k in keys)

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("sustained_response", row, keys, column)

        assessed = attack.count(("sustained_assessed", cohort, instrument, months, site), row["n_assessed"],
                                at("n_assessed"))
        sustained = attack.count(("sustained", cohort, instrument, months, site), row["n_sustained"],
                                 at("n_sustained"))
        sums[("sustained_assessed", cohort, instrument, months)][site] = assessed
        sums[("sustained", cohort, instrument, months)][site] = sustained
        attack.at_most(sustained, assessed, "sustained <= assessed")
        attack.at_most(assessed, ("response_rates", cohort, instrument, "response", site, "n_met"),
                       "assessed responders <= responders (response_rates n_met)")
        attack.rate_with_interval(row, at, "n_sustained", "n_assessed", (sustained, assessed))
    _site_sums(attack, sums, "ALL = sum of sites (sustained_response)")


def attack_relapse_survival(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """The network's curve on its grid: cumulative relapses and censorings never fall, the courses
    at risk at a point are those not relapsed or censored before it, and between two shown points
    every difference of counts is a count of courses, so it must be 0 or above the threshold.
    Survival and its interval are products over event times a reader does not have; they are
    only checked for being hidden with their row."""
    keys = ["instrument", "days"]
    by_instrument: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in _rows(con, "relapse_survival"):
        by_instrument[str(row["instrument"])].append(row)
    for instrument, rows in by_instrument.items():
        rows.sort(key=lambda r: int(r["days"]))
        previous: dict[str, Quantity] | None = None
        previous_row: dict[str, object] | None = None
        first: Quantity = ("relapse_curve", instrument, "followed")
        for row in rows:

            def at(column: str, row: dict[str, object] = row) -> str:
                return _where("relapse_survival", row, keys, column)

            q = {c: attack.count(("relapse_curve", instrument, row["days"], c), row[c], at(c))
                 for c in ("n_at_risk", "n_relapsed", "n_censored")}
            for column in ("survival", "ci_low", "ci_high"):
                attack.derived_beside_hidden(at(column), column, row[column], {"n_at_risk": row["n_at_risk"]})
            if previous is not None and previous_row is not None:
                for c in ("n_relapsed", "n_censored"):
                    attack.at_most(previous[c], q[c], f"cumulative {c} never falls")
                # at risk now = all followed (at risk on day 0) less the events before now: at most
                # those less the events up to the point before, at least those less the events so far
                attack.relate({q["n_at_risk"]: 1.0, first: -1.0, previous["n_relapsed"]: 1.0,
                               previous["n_censored"]: 1.0}, -math.inf, 0, "at risk <= all less earlier")
                attack.relate({q["n_at_risk"]: 1.0, first: -1.0, q["n_relapsed"]: 1.0, q["n_censored"]: 1.0},
                              0, math.inf, "at risk >= all less the events so far")
                for c in ("n_at_risk", "n_relapsed", "n_censored"):
                    if row[c] is not None and previous_row[c] is not None:
                        step = abs(int(row[c]) - int(previous_row[c]))
                        if 1 <= step <= SMALL_CELL_MAX:
                            attack.findings.append(Finding(at(c), f"differs from the point before by {step}"))
            if previous is None:
                first = q["n_at_risk"]
            previous, previous_row = q, row


def attack_response_by_infusion(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "instrument", "infusion_number"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "response_by_infusion"):
        cohort, site, instrument, k = (
            row["cohort_month"],
            row["site_id"],
            row["instrument"],
            row["infusion_number"],
        )

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("response_by_infusion", row, keys, column)

        assessed = attack.count(
            ("assessed", cohort, site, instrument, k), row["n_assessed"], at("n_assessed")
        )
        responders = attack.count(
            ("responders", cohort, site, instrument, k), row["n_responders"], at("n_responders")
        )
        sums[("assessed", cohort, instrument, k)][site] = assessed
        sums[("responders", cohort, instrument, k)][site] = responders
        attack.at_most(responders, assessed, "responders <= assessed")
        attack.rate_with_interval(row, at, "n_responders", "n_assessed", (responders, assessed))
    _site_sums(attack, sums, "ALL = sum of sites (response_by_infusion)")


def attack_score_trajectories(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["cohort_month", "site_id", "instrument", "timepoint"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    per_course: dict[tuple, dict[int, Quantity]] = defaultdict(dict)
    for row in _rows(con, "score_trajectories"):
        cohort, site, instrument, t = row["cohort_month"], row["site_id"], row["instrument"], row["timepoint"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("score_trajectories", row, keys, column)

        # after infusion k: the courses response_by_infusion counts as assessed (same population)
        name = (
            ("assessed", cohort, site, instrument, t)
            if t > 0
            else ("baseline_courses", cohort, site, instrument)
        )
        courses = attack.count(name, row["n_courses"], at("n_courses"))
        sums[(name[0], cohort, instrument, t)][site] = courses
        per_course[(cohort, site, instrument)][t] = courses
        for column in ("mean_score", "ci_low", "ci_high"):
            attack.derived_beside_hidden(at(column), column, row[column], {"n_courses": row["n_courses"]})
    last = max((t for timepoints in per_course.values() for t in timepoints), default=0)
    for (cohort, site, instrument), timepoints in per_course.items():
        for t in range(1, last + 1):  # rows exist where courses were scored: an absent one is 0
            if t not in timepoints:
                timepoints[t] = attack.count(
                    ("assessed", cohort, site, instrument, t),
                    0,
                    f"reporting.score_trajectories[{cohort}, {site}, {instrument}, {t}] (no row)",
                )
        if 0 in timepoints:  # every course scored after infusion k has its baseline (timepoint 0)
            for t, q in timepoints.items():
                if t > 0:
                    attack.at_most(q, timepoints[0], "courses after infusion k <= courses at baseline")
    _site_sums(attack, sums, "ALL = sum of sites (score_trajectories)")


def attack_safety_signal_counts(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["month", "site_id", "reason"]
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    reasons: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "safety_signal_counts"):
        month, site, reason = row["month"], row["site_id"], row["reason"]

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("safety_signal_counts", row, keys, column)

        given = attack.count(("sessions", month, site), row["n_sessions_given"], at("n_sessions_given"))
        signals = attack.count(("signals", month, site, reason), row["n_sessions"], at("n_sessions"))
        sums[("sessions", month)][site] = given
        sums[("signals", month, reason)][site] = signals
        reasons[(month, site)][reason] = signals
    for by_reason in reasons.values():
        if "any" in by_reason:
            others = [q for r, q in by_reason.items() if r != "any"]
            for q in others:
                attack.at_most(q, by_reason["any"], "a reason <= any")
            attack.relate(
                {by_reason["any"]: 1.0, **{q: -1.0 for q in others}},
                -math.inf,
                0,
                "any <= sum of the reasons",
            )
    _site_sums(attack, sums, "ALL = sum of sites (safety_signal_counts)")


def attack_data_quality(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    keys = ["export_month", "export"]
    columns = DATA_QUALITY_COUNTS
    accounted: set[tuple] = set()
    for row in _rows(con, "file_accounting"):
        group = (row["export_month"], row["export"])
        q = {
            c: attack.count(("dq", *group, c), row[c], _where("file_accounting", row, keys, c))
            for c in columns
        }
        accounted.add(group)
        attack.equal_sum(
            q["rows_read"],
            [q["rows_loaded"], q["rows_quarantined"], q["duplicates_collapsed"]],
            f"rows_read = loaded + quarantined + collapsed [{group}]",
        )
        attack.relate(
            {q["rows_held"]: 1.0, q["rows_malformed"]: 1.0, q["rows_quarantined"]: -1.0},
            -math.inf,
            0,
            "held + malformed <= quarantined",
        )
    by_group: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "quarantine_reasons"):
        group = (row["export_month"], row["export"])
        where = _where("quarantine_reasons", row, [*keys, "reason"], "n_rows")
        name = (
            ("dq", *group, "rows_malformed")
            if row["reason"] == MALFORMED_REASON
            else ("reason", *group, row["reason"])
        )
        by_group[group][row["reason"]] = attack.count(name, row["n_rows"], where)
    for group in accounted:
        reasons = by_group.get(group, {})
        quarantined, held, malformed = (
            ("dq", *group, c) for c in ("rows_quarantined", "rows_held", "rows_malformed")
        )
        orphan = [q for r, q in reasons.items() if r in ORPHAN_REASONS]
        other = [q for r, q in reasons.items() if r not in ORPHAN_REASONS and r != MALFORMED_REASON]
        # held rows carry orphan reasons only; every other quarantined row (not a malformed line)
        # carries at least one other reason, and each reason counts a row at most once
        attack.relate({held: 1.0, **{q: -1.0 for q in orphan}}, -math.inf, 0, "held <= orphan reasons")
        attack.relate(
            {quarantined: 1.0, held: -1.0, malformed: -1.0, **{q: -1.0 for q in other}},
            -math.inf,
            0,
            "quarantined rows that are neither held nor malformed <= their reasons",
        )
        for q in other:
            attack.relate(
                {q: 1.0, quarantined: -1.0, held: 1.0, malformed: 1.0},
                -math.inf,
                0,
                "a reason <= the rows that are neither held nor malformed",
            )
        for q in orphan:
            attack.relate(
                {q: 1.0, quarantined: -1.0, malformed: 1.0},
                -math.inf,
                0,
                "an orphan reason <= the quarantined rows",
            )


def _period_start(month: date, period_type: str) -> date:
    """The calendar quarter's or year's first day that `month` falls in."""
    return date(month.year, 1 if period_type == "year" else 3 * ((month.month - 1) // 3) + 1, 1)


def attack_response_rates_by_period(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """A pooled count is the sum of the same site's monthly counts in response_rates over the period
    (docs/querying.md: calendar quarters and years, each course in one cohort month)."""
    keys = ["period_type", "period_start", "site_id", "instrument", "measure"]
    months = defaultdict(set)
    found = con.execute("SELECT DISTINCT cohort_month FROM reporting.response_rates").fetchall()
    for (cohort_month,) in found:
        for period_type in ("quarter", "year"):
            months[period_type, _period_start(cohort_month, period_type)].add(cohort_month)
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "response_rates_by_period"):
        period = (row["period_type"], row["period_start"])
        group = (row["instrument"], row["measure"])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("response_rates_by_period", row, keys, column)

        q = {c: attack.count(("response_rates_by_period", *period, *group, row["site_id"], c), row[c], at(c))
             for c in ("n_eligible", "n_met", "n_missing_endpoint")}
        for c, quantity in q.items():
            sums[(*period, *group, c)][row["site_id"]] = quantity
            parts = [("response_rates", m, *group, row["site_id"], c) for m in sorted(months[period])]
            attack.equal_sum(quantity, parts, f"a pool is the sum of its months at {at(c)}")
        attack.at_most(q["n_met"], q["n_eligible"], "met <= eligible")
        attack.rate_with_interval(row, at, "n_met", "n_eligible", (q["n_met"], q["n_eligible"]))
    _site_sums(attack, sums, "ALL = sum of sites (response_rates_by_period)")


def attack_adverse_events_by_period(attack: Attack, con: duckdb.DuckDBPyConnection) -> None:
    """A pooled count is the sum of the same site's (and term's) monthly counts in adverse_events."""
    keys = ["period_type", "period_start", "site_id", "ae_term"]
    months = defaultdict(set)
    for (month,) in con.execute("SELECT DISTINCT month FROM reporting.adverse_events").fetchall():
        for period_type in ("quarter", "year"):
            months[period_type, _period_start(month, period_type)].add(month)
    counts = ("n_sessions_with_event", "n_grade_3_plus", "n_serious")
    sums: dict[tuple, dict[str, Quantity]] = defaultdict(dict)
    for row in _rows(con, "adverse_events_by_period"):
        period, site, term = (row["period_type"], row["period_start"]), row["site_id"], row["ae_term"]
        in_period = sorted(months[period])

        def at(column: str, row: dict[str, object] = row) -> str:
            return _where("adverse_events_by_period", row, keys, column)

        sessions = attack.count(("pooled_sessions", *period, site), row["n_sessions"], at("n_sessions"))
        sums[("pooled_sessions", *period)][site] = sessions
        attack.equal_sum(sessions, [("sessions", m, site) for m in in_period],
                         "pooled sessions = sum of months")
        quantities = {c: attack.count(("ae_pool", *period, site, term, c), row[c], at(c)) for c in counts}
        for c, q in quantities.items():
            sums[("ae_pool", *period, term, c)][site] = q
            attack.equal_sum(q, [("ae", m, site, term, c) for m in in_period],
                             f"a pool is the sum of its months at {at(c)}")
        attack.at_most(quantities["n_sessions_with_event"], sessions, "events <= sessions")
        attack.rate_with_interval(row, at, "n_sessions_with_event", "n_sessions",
                                  (quantities["n_sessions_with_event"], sessions),
                                  rate="rate_per_100_sessions", scale=100.0)
    _site_sums(attack, sums, "ALL = sum of sites (adverse_events_by_period)")


ATTACKS = {
    "adverse_events": attack_adverse_events,
    "ae_control_chart": attack_ae_control_chart,
    "response_rates": attack_response_rates,
    "response_by_infusion": attack_response_by_infusion,
    "quality_measures": attack_quality_measures,
    "sustained_response": attack_sustained_response,
    "relapse_survival": attack_relapse_survival,
    "score_trajectories": attack_score_trajectories,
    "safety_signal_counts": attack_safety_signal_counts,
    "file_accounting": attack_data_quality,
    "quarantine_reasons": None,  # attacked with file_accounting
    "response_rates_by_period": attack_response_rates_by_period,
    "adverse_events_by_period": attack_adverse_events_by_period,
}

# Every numeric (or boolean) published column that the attacks above model.
MODELLED_COLUMNS = {
    "adverse_events": {
        "n_sessions",
        "n_sessions_with_event",
        "rate_per_100_sessions",
        "ci_low",
        "ci_high",
        "n_grade_3_plus",
        "n_serious",
        "n_stopped_early_for_event",
    },
    # n_baseline_months counts the site's rows in the pool (which months have rows is published);
    # limits_provisional follows from it
    "ae_control_chart": {"n_sessions", "n_sessions_with_any_ae", "p", "p_bar", "ucl", "lcl", "signal",
                         "n_baseline_months", "limits_provisional"},
    "response_rates": {"n_eligible", "n_met", "n_missing_endpoint", "rate", "ci_low", "ci_high",
                       "is_provisional"},
    "response_by_infusion": {"infusion_number", "n_assessed", "n_responders", "rate", "ci_low", "ci_high"},
    # is_provisional follows from cohort_month and the build's latest export month alone
    "quality_measures": {"n_denominator", "n_numerator", "rate", "ci_low", "ci_high", "is_provisional"},
    "sustained_response": {"months_after_endpoint", "n_assessed", "n_sustained", "rate", "ci_low", "ci_high",
                           "is_provisional"},
    "relapse_survival": {"days", "n_at_risk", "n_relapsed", "n_censored", "survival", "ci_low", "ci_high"},
    "score_trajectories": {"timepoint", "n_courses", "mean_score", "ci_low", "ci_high"},
    "safety_signal_counts": {"n_sessions_given", "n_sessions"},
    "file_accounting": set(DATA_QUALITY_COUNTS),
    "quarantine_reasons": {"n_rows"},
    # n_cohort_months / n_months: the months with rows in the monthly table, published there;
    # is_provisional follows from the period and the build's latest export month
    "response_rates_by_period": {"n_cohort_months", "n_eligible", "n_met", "n_missing_endpoint", "rate",
                                 "ci_low", "ci_high", "is_provisional"},
    "adverse_events_by_period": {"n_months", "n_sessions", "n_sessions_with_event", "rate_per_100_sessions",
                                 "ci_low", "ci_high", "n_grade_3_plus", "n_serious", "is_provisional"},
}


def unmodelled_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Published numbers (and booleans) of `reporting` that no attack here knows how to combine."""
    found = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'reporting' "
        "AND database_name = current_database() AND data_type NOT IN ('VARCHAR', 'DATE', 'VARCHAR[]') "
        "ORDER BY ALL"
    ).fetchall()
    tables = {
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'reporting' "
            "AND database_name = current_database()"
        ).fetchall()
    }
    missing = [f"reporting.{t} (a table)" for t in sorted(tables - set(MODELLED_COLUMNS))]
    return missing + [f"reporting.{t}.{c}" for t, c in found if c not in MODELLED_COLUMNS.get(t, set())]


def attack_published(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Every disclosure an outsider can prove from the `reporting` schema of `con`."""
    attack = Attack()
    for run in ATTACKS.values():
        if run is not None:
            run(attack, con)
    return [
        Finding(column, "published number not modelled by the attack") for column in unmodelled_columns(con)
    ] + attack.solve()


# --- shown values against their unsuppressed sources ----------------------------------------

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
