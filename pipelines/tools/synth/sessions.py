"""Session rows: times, status, dose, duration, clinician, adverse events, vitals response.

`plan_sessions` turns the network's schedule (days only) into the full sessions table
for the whole period: it is a few hundred thousand rows at most, so it is built at once
with whole-array draws. `month_frame` cuts one month out in contract column order.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines import contract
from pipelines.tools.synth import config as cfg
from pipelines.tools.synth import vitals
from pipelines.tools.synth.config import PLAN_MONTH, Stream, rng_for
from pipelines.tools.synth.ids import make_ids
from pipelines.tools.synth.network import Network, month_index

_TERMS: tuple[str, ...] = contract.AE_TERMS


def _start_times(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """Weekday clinic starts between 08:00 and 16:00 (quarter-hour slots plus a few minutes' delay)."""
    slots = (cfg.CLINIC_LAST_START_MINUTE - cfg.CLINIC_OPEN_MINUTE) // 15
    minute = cfg.CLINIC_OPEN_MINUTE + 15 * rng.integers(0, slots, len(days)) + rng.integers(0, 10, len(days))
    return days.astype("datetime64[m]") + minute.astype("timedelta64[m]")


def _doses(s: pl.DataFrame, true_weight: np.ndarray) -> np.ndarray:
    """mg per session: weight-based for IV/IM, 56 then 56/84 mg for esketamine, fixed for SL/PO."""
    route = s["route"].to_numpy()
    first_in_course = s["course_rank"].to_numpy() == 1
    weight_based = np.round(s["mg_per_kg"].to_numpy() * true_weight, 1)
    low, high = cfg.ESKETAMINE_DOSES_MG
    esk = np.where(first_in_course | ~s["titrate"].to_numpy(), low, high)
    fixed = s["fixed_dose_mg"].to_numpy()
    return np.where(np.isin(route, ["IV", "IM"]), weight_based, np.where(route == "IN", esk, fixed))


def _durations(rng: np.random.Generator, route: np.ndarray, stopped: np.ndarray) -> np.ndarray:
    """Minutes: ~40 for an IV infusion, >= 120 observation after esketamine; shorter if stopped."""
    duration = np.zeros(len(route))
    for name, (mean, sd, low, high) in cfg.DURATION.items():
        rows = route == name
        duration[rows] = np.clip(rng.normal(mean, sd, int(rows.sum())), low, high)
    cut = rng.uniform(0.15, 0.85, len(route))
    duration = np.where(stopped, np.maximum(duration * cut, 3.0), duration)
    maximum = contract.SESSIONS.column("duration_min").max or 240
    return np.clip(np.round(duration), 1, maximum)


def _adverse_events(
    rng: np.random.Generator, s: pl.DataFrame, response: dict[str, np.ndarray], stop_term: np.ndarray,
) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """AE text per session (`term:grade;...`), serious flag, and the sampled occurrence matrix.

    Rates depend on the route group; dissociation scales with the patient's susceptibility;
    hypertension follows the planned blood-pressure peak; a stop reason forces its AE.
    """
    n = s.height
    group = s["route_group"].to_numpy()
    given = ~s["cancelled"].to_numpy()
    p = np.zeros((n, len(_TERMS)))
    for g, rates in cfg.AE_RATES.items():
        rows = group == g
        for term, rate in rates.items():
            p[rows, _TERMS.index(term)] = rate
    d = _TERMS.index("dissociation")
    p[:, d] = np.minimum(p[:, d] * s["dissociation_factor"].to_numpy(), 0.95)
    h = _TERMS.index("hypertension")
    severe = response["severe_kind"] > 0
    elevated = response["planned_peak_systolic"] >= 160
    rates = cfg.HYPERTENSION_AE_P
    p[:, h] = np.where(severe, rates["severe"], np.where(elevated, rates["elevated"], rates["baseline"]))
    occurs = (rng.random((n, len(_TERMS))) < p) & given[:, None]
    nausea, vomiting = _TERMS.index("nausea"), _TERMS.index("vomiting")
    occurs[:, nausea] |= occurs[:, vomiting] & (rng.random(n) < 0.7)

    grade_values = np.arange(1, len(cfg.AE_GRADE_P) + 1)
    grades = rng.choice(grade_values, size=(n, len(_TERMS)), p=cfg.AE_GRADE_P)
    share = cfg.SEVERE_BP_GRADE_3_SHARE
    grades[:, h] = np.where(severe, rng.choice([2, 3], n, p=[1 - share, share]), np.minimum(grades[:, h], 2))
    for term in set(stop_term[stop_term != ""]):
        rows = stop_term == term
        t = _TERMS.index(term)
        occurs[rows, t] = True
        grades[rows, t] = np.maximum(grades[rows, t], 2)
    grades = np.where(occurs, grades, 0)
    emergence = _TERMS.index("emergence_reaction")
    serious = (grades >= 4).any(axis=1) | ((grades[:, emergence] >= 3) & (rng.random(n) < 0.1))

    parts = [
        pl.when(pl.Series(occurs[:, i])).then(pl.lit(f"{term}:") + pl.Series(grades[:, i]).cast(pl.String))
        for i, term in enumerate(_TERMS)
    ]
    text = pl.select(pl.concat_str(parts, separator=";", ignore_nulls=True).alias("ae")).to_series()
    text = text.replace("", None)
    return text, serious, occurs


def plan_sessions(net: Network) -> pl.DataFrame:
    """All sessions of the period with every export column plus plan columns for vitals and questionnaires."""
    config = net.config
    rng = rng_for(config.seed, PLAN_MONTH, Stream.SESSIONS)
    days = net.sessions["day"].to_numpy().astype("datetime64[D]")
    starts = _start_times(rng, days).astype("datetime64[ms]")
    s = net.sessions.with_columns(pl.Series("session_start", starts))
    s = (
        s.join(net.courses.drop("patient_idx"), on="course_idx", how="left")
        .join(net.patients, on="patient_idx", how="left")
        .join(net.sites.select("site_idx", "first_clinician", "n_clinicians"), on="site_idx", how="left")
        .sort("session_start", "patient_idx")
        .with_columns(
            pl.int_range(pl.len()).alias("session_idx"),
            pl.col("session_start").rank("ordinal").over("course_idx").alias("course_rank"),
            pl.col("route").replace_strict(cfg.ROUTE_GROUP).alias("route_group"),
        )
    )
    n = s.height
    cancelled = s["cancelled"].to_numpy()
    stopped = ~cancelled & (rng.random(n) < cfg.STOP_EARLY_SHARE)
    reason_p = np.array([p for p, _ in cfg.STOP_REASONS.values()])
    reason_pick = rng.choice(len(reason_p), n, p=reason_p / reason_p.sum())
    stop_reason = np.where(stopped, np.array(list(cfg.STOP_REASONS))[reason_pick], "")
    stop_term = np.where(stopped, np.array([term for _, term in cfg.STOP_REASONS.values()])[reason_pick], "")

    weight_col = contract.SESSIONS.column("weight_kg")
    true_weight = np.clip(s["weight"].to_numpy() + rng.normal(0.0, 0.8, n), weight_col.min, weight_col.max)
    duration = _durations(rng, s["route"].to_numpy(), stopped)
    other_clinician = s["first_clinician"].to_numpy() + np.floor(
        rng.random(n) * s["n_clinicians"].to_numpy()).astype(int)
    clinician = np.where(rng.random(n) < cfg.PRIMARY_CLINICIAN_SHARE, s["primary_clinician"].to_numpy(),
                         other_clinician)
    clinician_ids = net.clinicians["clinician_id"].gather(clinician)

    patient_base = {m: s[f"base_{m}"].to_numpy() for m in vitals.MEASURE_NAMES}
    response = vitals.plan_response(rng_for(config.seed, PLAN_MONTH, Stream.VITALS_PLAN),
                                    s["route_group"].to_numpy(), s["route"].to_numpy(), patient_base,
                                    stop_term == "hypertension")
    ae_text, serious, occurs = _adverse_events(rng_for(config.seed, PLAN_MONTH, Stream.ADVERSE_EVENTS),
                                               s, response, stop_term)
    tachy = occurs[:, _TERMS.index("tachycardia")]
    response["amp_heart_rate"] = response["amp_heart_rate"] + np.where(tachy, rng.uniform(30, 45, n), 0.0)

    missing_weight = rng.random(n) < cfg.MISSING_WEIGHT
    missing_duration = cancelled | (rng.random(n) < cfg.MISSING_DURATION)
    missing_clinician = rng.random(n) < cfg.MISSING_CLINICIAN
    status = np.where(cancelled, "cancelled", np.where(stopped, "stopped_early", "completed"))
    return s.with_columns(
        pl.Series("session_id", make_ids("session", s["session_idx"].to_numpy(), config.seed)),
        pl.Series("month_idx", month_index(_days_of(s), net.month_starts)),
        pl.Series("clinician_id", clinician_ids).set(pl.Series(missing_clinician), None),
        pl.Series("dose_mg", _doses(s, true_weight)),
        pl.Series("weight_kg", np.round(true_weight, 1)).set(pl.Series(missing_weight), None),
        pl.Series("duration_true", duration),
        pl.Series("duration_min", duration.astype(np.int64)).set(pl.Series(missing_duration), None),
        pl.Series("status", status),
        pl.Series("stop_reason", stop_reason).replace("", None),
        ae_text.alias("adverse_events"),
        pl.Series("serious_adverse_event", serious),
        pl.Series("dissociation_ae", occurs[:, _TERMS.index("dissociation")]),
        *[pl.Series(name, values) for name, values in response.items()],
    )


def _days_of(s: pl.DataFrame) -> np.ndarray:
    """The calendar day of each session start."""
    return s["session_start"].to_numpy().astype("datetime64[D]")


def month_frame(plan: pl.DataFrame, month: int) -> pl.DataFrame:
    """The sessions export rows of one month, in contract column order."""
    return plan.filter(pl.col("month_idx") == month).select(contract.SESSIONS.column_names)
