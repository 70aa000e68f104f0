"""The outsider's solver: published counts, the relations between them, and what they pin down.

An attack records every published count cell as shown (a number) or hidden (NULL), and every
relation a reader knows between counts (sums, parts of wholes, rates, Wilson intervals). solve()
asks an integer program (scipy's `milp`, HiGHS) for the smallest and largest value each hidden
cell can take. A hidden cell is disclosed when the relations pin it to one value, or to a range
inside 1..small_cell_max (CMS cell size suppression policy, clinical-definitions.md). What each
published table means is written down in pipelines/publish/disclosure/relations.py.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import LinearConstraint, OptimizeResult, milp
from scipy.sparse import lil_matrix

from pipelines.transform.project import dbt_var

# The attacker knows the published rules (they are in dbt/dbt_project.yml and reference.rules).
SMALL_CELL_MAX = int(dbt_var("small_cell_max"))
WILSON_Z = 1.959963984540054  # the attacker's own: the 0.975 quantile of the standard normal
UNBOUNDED = 10**7  # no count in these tables comes near; reaching it means "no upper bound"
TOLERANCE = 1e-6  # for relations through doubles (rates, p_bar, limits)
N_MAX_SCAN = 100_000  # denominators tried when inverting a Wilson interval
WITNESS_SOLVES = 16  # whole-component solves before the cell-by-cell ones (see _solve_component)

Quantity = tuple  # a count's identity, e.g. ("sessions", month, site)
# A relation as the solver sees it: {unknown's index: coefficient}, lower, upper, why
Row = tuple[dict[int, float], float, float, str]


@dataclass(frozen=True)
class Finding:
    """A hidden cell the relations disclose, or a published number that breaks the rules.

    `cell`: the hidden quantity the solver pinned (what a publisher may repair around); None for
    a broken rule.
    """

    where: str
    problem: str
    cell: Quantity | None = field(default=None, compare=False)

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
    # shown Wilson intervals (low, high, successes, trials, scale, where), inverted in solve(),
    # once every table has said which counts it shows
    intervals: list[tuple[float, float, Quantity, Quantity, float, str]] = field(default_factory=list)
    ratios: list[tuple[float, Quantity, Quantity, float, str]] = field(default_factory=list)  # likewise

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
        """value = scale * numerator / denominator, shown as a double (related in solve())."""
        self.ratios.append((value, numerator, denominator, scale, why))

    def _relate_ratios(self) -> None:
        """Each shown ratio as a relation, where one of its counts is hidden. Where both are shown
        it can only be checked: the solver is spared rows with fractional coefficients, on which
        HiGHS can declare a feasible problem infeasible."""
        for value, numerator, denominator, scale, why in self.ratios:
            if numerator in self.shown and denominator in self.shown:
                off = self.shown[denominator] * value - scale * self.shown[numerator]
                if abs(off) > TOLERANCE * (1.0 + max(1.0, abs(off))):  # as solve() checks a shown relation
                    self.findings.append(
                        Finding(why, f"published numbers contradict the relation (off by {off:.6g})"))
                continue
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
        if low is not None and high is not None:
            self.intervals.append((low, high, successes, trials, scale, where))

    def _invert_intervals(self) -> None:
        """Each shown interval as bounds on its counts. Where both counts are shown anyway, it can
        only be checked (one evaluation); otherwise every count pair that gives it is searched
        (wilson_preimage, the slow part of an attack)."""
        for low, high, successes, trials, scale, where in self.intervals:
            if successes in self.shown and trials in self.shown:
                k, n = self.shown[successes], self.shown[trials]
                if n > 0:
                    lo, hi = wilson_bounds(np.array([k]), np.array([n]))
                    if abs(lo[0] - low / scale) <= 1e-9 and abs(hi[0] - high / scale) <= 1e-9:
                        continue
            pairs = wilson_preimage(low / scale, high / scale)
            if not pairs:
                self.findings.append(Finding(where, f"Wilson interval [{low}, {high}] matches no count pair"))
                continue
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
        self._invert_intervals()
        self._relate_ratios()
        findings = list(self.findings)
        unknown = sorted(self.hidden, key=repr)
        index = {q: i for i, q in enumerate(unknown)}
        rows: list[Row] = []
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
        rows: list[Row],
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

        def unproven() -> np.ndarray:
            """Cells no solution so far shows to take two values, one of them 0 or above 10."""
            return ~((seen_low < seen_high) & ((seen_low <= 0) | (seen_high > SMALL_CELL_MAX)))

        # Witnesses first: solutions that push the unproven cells all down, all up, then in random
        # directions (a fixed seed: the same file gets the same audit), while that proves more
        # cells safe. Sound, because only values of real integer solutions are noted; what is
        # left is solved for cell by cell below.
        directions = np.random.default_rng(0)
        for attempt in range(WITNESS_SOLVES):
            open_ = unproven()
            if not open_.any():
                break
            if attempt < 2:
                weights = np.full(n, 1.0 if attempt == 0 else -1.0)
            else:
                weights = directions.standard_normal(n)
            result = integer_program(np.where(open_, weights, 0.0), integrality, bounds, constraints)
            if result.status != 0 or result.x is None:
                break  # the cell-by-cell solves below report it
            note(result.x)
            if attempt >= 2 and int(unproven().sum()) == int(open_.sum()):
                break

        for i in range(n):
            # Already proven safe by solutions found so far: two values, one of them 0 or above 10.
            if seen_low[i] < seen_high[i] and (seen_low[i] <= 0 or seen_high[i] > SMALL_CELL_MAX):
                continue
            for sense in (1.0, -1.0):
                objective = np.zeros(n)
                objective[i] = sense
                result = integer_program(objective, integrality, bounds, constraints)
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
            where, cell = f"{self.hidden[quantities[i]]}", quantities[i]
            if low == high:
                findings.append(Finding(where, f"hidden cell pinned to {int(low)}", cell))
            elif low >= 1 and high <= SMALL_CELL_MAX:
                findings.append(Finding(where, f"hidden cell pinned to {int(low)}-{int(high)}", cell))
        return findings


def integer_program(
    objective: np.ndarray, integrality: np.ndarray, bounds: tuple, constraints: LinearConstraint
) -> OptimizeResult:
    """scipy's milp (HiGHS); an "infeasible" from HiGHS's MIP presolve is checked without it.

    HiGHS 1.x (scipy 1.17) declares some feasible integer programs of these sums infeasible
    in presolve (seen on the demo network: 68 counts, 86 sums and inequalities, the true counts
    satisfy every row); a problem is reported infeasible only when both agree.
    """
    result = milp(objective, integrality=integrality, bounds=bounds, constraints=constraints)
    if result.status == 2:  # infeasible
        result = milp(objective, integrality=integrality, bounds=bounds, constraints=constraints,
                      options={"presolve": False})
    return result


def _components(n: int, rows: list[Row]) -> list[list[int]]:
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
