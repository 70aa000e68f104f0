"""Vital signs around each session: a per-session response planned up front, readings per month.

The plan (one row per session) fixes each session's baselines, blood-pressure rise and
whether it crosses the hypertensive-urgency line, so that adverse events and stop
reasons can agree with the vitals. Readings (28 time points x 5 measures per session)
are drawn month by month with whole-array operations and freed after writing.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines import contract
from pipelines.tools.synth import config as cfg

MEASURES: tuple[contract.VitalMeasure, ...] = contract.VITAL_MEASURES
MEASURE_NAMES: tuple[str, ...] = tuple(m.name for m in MEASURES)
_M = {name: i for i, name in enumerate(MEASURE_NAMES)}


def measure_labels() -> list[str]:
    """Labels by site style: names (style 0), LOINC (1), LOINC with the alternative SpO2 code (2)."""
    names = list(MEASURE_NAMES)
    loinc = [m.loinc[0] for m in MEASURES]
    alt = [m.loinc[-1] for m in MEASURES]  # SpO2 2708-6; other measures have one code
    return names + loinc + alt


def response_curve(minutes: np.ndarray, peak: np.ndarray, shape: float = 3.0) -> np.ndarray:
    """Rise from 0 to 1 at `peak` minutes after the start and back toward 0 (gamma-like)."""
    t = np.maximum(minutes, 0.0) / peak
    return np.where(minutes > 0, t**shape * np.exp(shape * (1.0 - t)), 0.0)


def plan_response(
    rng: np.random.Generator, group: np.ndarray, route: np.ndarray, patient_base: dict[str, np.ndarray],
    hypertension_stop: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-session baselines and responses; exactly the planned sessions reach >= 180/110.

    Non-severe sessions have their rise capped below the urgency line (and readings clipped
    when written), severe ones are lifted above it at the peak. Sessions stopped for
    hypertension are mostly severe, the rest at least clearly elevated.
    """
    n = len(group)
    base = {
        name: patient_base[name] + rng.normal(0.0, sd, n)
        for name, sd in (("systolic_bp", 5.0), ("diastolic_bp", 4.0), ("heart_rate", 5.0),
                         ("spo2", 0.3), ("resp_rate", 1.0))
    }
    amp_sys, amp_dia, amp_hr = np.zeros(n), np.zeros(n), np.zeros(n)
    peak, severe_share = np.full(n, 40.0), np.zeros(n)
    for g, (sys_mean, sys_sd, ratio, peak_min) in cfg.BP_RESPONSE.items():
        rows = group == g
        k = int(rows.sum())
        amp_sys[rows] = np.clip(rng.normal(sys_mean, sys_sd, k), 0.0, 45.0)
        amp_dia[rows] = np.clip(ratio * amp_sys[rows] + rng.normal(0.0, 2.0, k), 0.0, 32.0)
        hr_mean, hr_sd = cfg.HR_RESPONSE[g]
        amp_hr[rows] = np.clip(rng.normal(hr_mean, hr_sd, k), -5.0, 30.0)
        peak[rows] = np.clip(rng.normal(peak_min, 2.0, k), peak_min - 5, peak_min + 5)
        severe_share[rows] = cfg.SEVERE_BP_SHARE[g]
    peak = np.where(route == "IM", cfg.IM_PEAK_MINUTE, peak)

    # Severe sessions: more likely with a high baseline; mean share kept at the group's rate.
    tilt = np.exp(0.06 * (base["systolic_bp"] - 125.0))
    p_severe = severe_share * tilt / max(float(tilt.mean()), 1e-9)
    severe = rng.random(n) < p_severe
    severe |= hypertension_stop & (rng.random(n) < 0.75)
    severe_kind = np.where(severe, np.where(rng.random(n) < 0.7, 1, 2), 0)  # 1 systolic, 2 diastolic
    sys_target = rng.integers(cfg.SEVERE_SYSTOLIC + 1, cfg.SEVERE_SYSTOLIC + 21, n)
    dia_target = rng.integers(cfg.SEVERE_DIASTOLIC + 1, cfg.SEVERE_DIASTOLIC + 13, n)
    amp_sys = np.where(severe_kind == 1, np.maximum(amp_sys, sys_target - base["systolic_bp"]), amp_sys)
    amp_dia = np.where(severe_kind == 2, np.maximum(amp_dia, dia_target - base["diastolic_bp"]), amp_dia)
    # A diastolic crisis comes with a raised systolic pressure (pulse pressure ~35 mmHg).
    amp_sys = np.where(severe_kind == 2, np.maximum(amp_sys, dia_target + 35 - base["systolic_bp"]), amp_sys)
    elevated_stop = hypertension_stop & ~severe
    amp_sys = np.where(elevated_stop, np.maximum(amp_sys, rng.uniform(162, 174, n) - base["systolic_bp"]),
                       amp_sys)
    # Keep non-severe sessions below the line (readings are clipped at write time as well).
    amp_sys = np.where(severe_kind != 1, np.minimum(amp_sys, np.maximum(174.0 - base["systolic_bp"], 0)),
                       amp_sys)
    amp_dia = np.where(severe_kind != 2, np.minimum(amp_dia, np.maximum(105.0 - base["diastolic_bp"], 0)),
                       amp_dia)
    return {
        **{f"sess_{name}": values for name, values in base.items()},
        "amp_systolic": amp_sys,
        "amp_diastolic": amp_dia,
        "amp_heart_rate": amp_hr,
        "amp_spo2_dip": rng.uniform(0.0, 1.5, n),
        "peak_minute": peak,
        "severe_kind": severe_kind,
        "severe_target": np.where(severe_kind == 1, sys_target, np.where(severe_kind == 2, dia_target, 0)),
        "planned_peak_systolic": base["systolic_bp"] + amp_sys,
        "desaturation": rng.random(n) < cfg.DESATURATION_SHARE,
    }


def readings(rng: np.random.Generator, plan: pl.DataFrame) -> np.ndarray:
    """Integer readings, shape (sessions, time points, measures), inside each measure's limits."""
    n = plan.height
    offsets = cfg.VITAL_OFFSETS_MIN.astype(float)
    n_t = len(offsets)

    def col(name: str) -> np.ndarray:
        return plan[name].to_numpy().astype(float)[:, None]

    def noise(measure: str) -> np.ndarray:
        return rng.normal(0.0, cfg.READING_NOISE_SD[measure], (n, n_t))

    bp_curve = response_curve(offsets[None, :], col("peak_minute"))
    hr_curve = response_curve(offsets[None, :], np.full((n, 1), 20.0), shape=2.0)
    out = np.empty((n, n_t, len(MEASURES)), dtype=np.int32)
    systolic = col("sess_systolic_bp") + col("amp_systolic") * bp_curve + noise("systolic_bp")
    diastolic = col("sess_diastolic_bp") + col("amp_diastolic") * bp_curve + noise("diastolic_bp")
    heart = col("sess_heart_rate") + col("amp_heart_rate") * hr_curve + noise("heart_rate")
    spo2 = col("sess_spo2") - col("amp_spo2_dip") * bp_curve + noise("spo2")
    resp = col("sess_resp_rate") + noise("resp_rate")

    kind = plan["severe_kind"].to_numpy()
    target = plan["severe_target"].to_numpy()
    peak_index = np.argmax(bp_curve, axis=1)
    rows = np.arange(n)
    systolic = np.where((kind != 1)[:, None], np.minimum(systolic, cfg.SEVERE_SYSTOLIC - 1), systolic)
    diastolic = np.where((kind != 2)[:, None], np.minimum(diastolic, cfg.SEVERE_DIASTOLIC - 1), diastolic)
    systolic[rows, peak_index] = np.where(kind == 1, np.maximum(systolic[rows, peak_index], target),
                                          systolic[rows, peak_index])
    diastolic = np.minimum(diastolic, systolic - 15)  # pulse pressure stays positive
    diastolic[rows, peak_index] = np.where(kind == 2, np.maximum(diastolic[rows, peak_index], target),
                                           diastolic[rows, peak_index])

    spo2 = np.clip(np.round(spo2), 90, 100)
    desat = plan["desaturation"].to_numpy()
    if desat.any():
        dip_at = rng.integers(4, 12, n)  # 5-40 minutes after the start
        dip = rng.integers(84, 90, n)
        spo2[rows[desat], dip_at[desat]] = dip[desat]
    limits = {m.name: (m.plausible_min, m.plausible_max) for m in MEASURES}
    for name, values in (("systolic_bp", systolic), ("diastolic_bp", diastolic), ("heart_rate", heart),
                         ("spo2", spo2), ("resp_rate", resp)):
        low, high = limits[name]
        out[:, :, _M[name]] = np.clip(np.round(values), low, high)
    return out


def month_frame(rng: np.random.Generator, plan: pl.DataFrame) -> pl.DataFrame:
    """The long vitals rows of one month's non-cancelled sessions, in contract column order.

    `plan` holds one row per session with `session_id`, `session_start`, `measure_style` and
    the response columns from `plan_response`. Rows are ordered by session, time, measure.
    """
    n, n_t, n_m = plan.height, len(cfg.VITAL_OFFSETS_MIN), len(MEASURES)
    values = readings(rng, plan).reshape(-1)
    session_pos = np.repeat(np.arange(n), n_t * n_m)
    start = plan["session_start"].to_numpy().astype("datetime64[s]")
    offsets = (cfg.VITAL_OFFSETS_MIN * 60).astype("timedelta64[s]")
    measured = (start[:, None] + offsets[None, :]).repeat(n_m, axis=1).reshape(-1)
    measure_pos = np.tile(np.arange(n_m), n * n_t)
    style = plan["measure_style"].to_numpy()
    label_pos = style[session_pos] * n_m + measure_pos
    units = pl.Series([m.unit for m in MEASURES])
    return pl.DataFrame({
        "session_id": plan["session_id"].gather(session_pos),
        "measured_at": pl.Series(measured.astype("datetime64[ms]")),
        "measure": pl.Series(measure_labels()).gather(label_pos),
        "value": values,
        "unit": units.gather(measure_pos),
    }).select(contract.VITALS.column_names)
