"""The clinic network planned up front: sites, clinicians, patients, courses and session dates.

Everything here is small (one row per patient, course or scheduled session), so the whole
period is planned in memory before any export month is written. Later steps
(`sessions`, `vitals`, `questionnaires`) add detail to these tables; only the large
long-format exports are generated month by month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.tools.synth import config as cfg
from pipelines.tools.synth.config import PLAN_MONTH, Stream, SynthConfig, rng_for
from pipelines.tools.synth.ids import make_ids


@dataclass
class Network:
    """The planned network. `sessions` is filled in by `pipelines.tools.synth.sessions.plan_sessions`."""

    config: SynthConfig
    months: list[str]
    month_starts: np.ndarray  # datetime64[D]: first day of each month, plus the period end
    sites: pl.DataFrame
    clinicians: pl.DataFrame
    patients: pl.DataFrame
    courses: pl.DataFrame
    sessions: pl.DataFrame  # the schedule at first; `plan_sessions` returns the detailed table

    @property
    def period_start(self) -> np.datetime64:
        return self.month_starts[0]

    @property
    def period_end(self) -> np.datetime64:
        return self.month_starts[-1]


def _choice(rng: np.random.Generator, mix: dict, size: int) -> np.ndarray:
    """Indexes into `list(mix)` drawn with the mix's probabilities (normalised)."""
    p = np.array(list(mix.values()), dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _normal(rng: np.random.Generator, spec: tuple[float, float, float, float], size: int) -> np.ndarray:
    mean, sd, low, high = spec
    return np.clip(rng.normal(mean, sd, size), low, high)


def month_index(days: np.ndarray, month_starts: np.ndarray) -> np.ndarray:
    """Index of the export month of each date (-1 before the period, len(months) after it)."""
    return np.searchsorted(month_starts, days.astype("datetime64[D]"), side="right") - 1


def _plan_sites(config: SynthConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sites of varied size, some opening late, some exporting LOINC codes; 2-5 clinicians each."""
    rng = rng_for(config.seed, PLAN_MONTH, Stream.SITES)
    n = config.sites
    weight = rng.lognormal(0.0, 0.6, n)
    late = rng.random(n) < cfg.SITE_LATE_OPENING_SHARE
    late[0] = False  # the network exists from its first month
    open_month = np.where(late, rng.integers(1, max(config.months // 2, 1) + 1, n), 0)
    open_month = np.minimum(open_month, config.months - 1)
    loinc = rng.random(n) < cfg.SITE_LOINC_SHARE
    alt_spo2 = rng.random(n) < cfg.SITE_LOINC_ALT_SPO2_SHARE
    # measure_style: 0 measure names, 1 LOINC codes, 2 LOINC codes with SpO2 as 2708-6
    style = np.where(loinc, np.where(alt_spo2, 2, 1), 0)
    low, high = cfg.CLINICIANS_PER_SITE
    n_clinicians = rng.integers(low, high + 1, n)
    first_clinician = np.concatenate([[0], np.cumsum(n_clinicians)[:-1]])
    sites = pl.DataFrame({
        "site_idx": np.arange(n),
        "site_id": [f"S{i + 1:03d}" for i in range(n)],
        "weight": weight,
        "open_month": open_month,
        "measure_style": style,
        "n_clinicians": n_clinicians,
        "first_clinician": first_clinician,
    })
    total = int(n_clinicians.sum())
    clinicians = pl.DataFrame({
        "clinician_idx": np.arange(total),
        "clinician_id": make_ids("clinician", np.arange(total), config.seed),
        "site_idx": np.repeat(np.arange(n), n_clinicians),
    })
    return sites, clinicians


def _plan_patients(config: SynthConfig, sites: pl.DataFrame, month_starts: np.ndarray) -> pl.DataFrame:
    """Patients with enrolment date, site, demographics, weight and vital-sign baselines."""
    rng = rng_for(config.seed, PLAN_MONTH, Stream.PATIENTS)
    n, n_months = config.patients, config.months
    open_month = sites["open_month"].to_numpy()
    share = sites["weight"].to_numpy() * (n_months - open_month)
    site = rng.choice(len(share), size=n, p=share / share.sum())
    month = open_month[site] + np.floor(rng.random(n) * (n_months - open_month[site])).astype(int)
    days_in_month = (month_starts[month + 1] - month_starts[month]).astype(int)
    enrol = month_starts[month] + np.floor(rng.random(n) * days_in_month).astype(int)
    first_start = np.busday_offset(enrol, 0, roll="forward")

    indication = np.array(list(cfg.INDICATION_MIX))[_choice(rng, cfg.INDICATION_MIX, n)]
    sex = np.array(list(cfg.SEX_MIX))[_choice(rng, cfg.SEX_MIX, n)]
    age_pick = _choice(rng, cfg.AGE_MIX, n)
    age_band = np.array(list(cfg.AGE_MIX))[age_pick]
    age_mid = np.array([cfg.AGE_MID[band] for band in cfg.AGE_MIX], dtype=float)[age_pick]
    weight = np.clip(rng.normal(*cfg.WEIGHT_MEAN_SD, n), *cfg.WEIGHT_REALISTIC)

    # Correlated systolic/diastolic baselines, a little higher with age.
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    zd = 0.6 * z1 + 0.8 * z2
    sys_mean, sys_sd, sys_low, sys_high = cfg.BASELINE["systolic_bp"]
    dia_mean, dia_sd, dia_low, dia_high = cfg.BASELINE["diastolic_bp"]
    age_shift = 0.25 * (age_mid - 40.0)
    systolic = np.clip(sys_mean + sys_sd * z1 + age_shift, sys_low, sys_high)
    diastolic = np.clip(dia_mean + dia_sd * zd + 0.4 * age_shift, dia_low, dia_high)

    first_clinician = sites["first_clinician"].to_numpy()[site]
    n_clinicians = sites["n_clinicians"].to_numpy()[site]
    primary = first_clinician + np.floor(rng.random(n) * n_clinicians).astype(int)

    return pl.DataFrame({
        "patient_idx": np.arange(n),
        "patient_id": make_ids("patient", np.arange(n), config.seed),
        "site_idx": site,
        "first_start": first_start,
        "indication": indication,
        "sex": sex,
        "age_band": age_band,
        "weight": weight,
        "base_systolic_bp": systolic,
        "base_diastolic_bp": diastolic,
        "base_heart_rate": _normal(rng, cfg.BASELINE["heart_rate"], n),
        "base_spo2": _normal(rng, cfg.BASELINE["spo2"], n),
        "base_resp_rate": _normal(rng, cfg.BASELINE["resp_rate"], n),
        "dissociation_factor": rng.gamma(3.0, 1.0 / 3.0, n),  # mean 1: some patients dissociate more
        "primary_clinician": primary,
    })


def _treatments(rng: np.random.Generator, indication: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(drug, route) per course, drawn from the indication's treatment mix."""
    drug = np.empty(len(indication), dtype=object)
    route = np.empty(len(indication), dtype=object)
    for name, mix in cfg.TREATMENT_MIX.items():
        rows = np.flatnonzero(indication == name)
        pick = _choice(rng, mix, len(rows))
        options = list(mix)
        drug[rows] = [options[i][0] for i in pick]
        route[rows] = [options[i][1] for i in pick]
    return drug.astype(str), route.astype(str)


def _roll_weekday(days: np.ndarray) -> np.ndarray:
    return np.busday_offset(days.astype("datetime64[D]"), 0, roll="forward")


def _schedule(
    rng: np.random.Generator, start: np.ndarray, esketamine: np.ndarray, n_induction: np.ndarray,
    n_effective: np.ndarray, booster: np.ndarray,
) -> dict[str, np.ndarray]:
    """Session days of a batch of courses: an induction every 2-3 days, then optional boosters.

    A cancelled slot is rescheduled (the next slot replaces it), so a course still reaches its
    planned number of infusions. Returns one entry per scheduled session (cancelled included).
    """
    n_courses, slots = len(start), cfg.MAX_INDUCTION_SLOTS
    ket_gaps = np.array(list(cfg.KETAMINE_GAP_DAYS))[_choice(rng, cfg.KETAMINE_GAP_DAYS, n_courses * slots)]
    esk_gaps = np.array(list(cfg.ESKETAMINE_GAP_DAYS))[
        _choice(rng, cfg.ESKETAMINE_GAP_DAYS, n_courses * slots)
    ]
    gaps = np.where(esketamine[:, None], esk_gaps.reshape(n_courses, slots),
                    ket_gaps.reshape(n_courses, slots))
    days = np.empty((n_courses, slots), dtype="datetime64[D]")
    days[:, 0] = _roll_weekday(start)
    for j in range(1, slots):
        days[:, j] = _roll_weekday(days[:, j - 1] + gaps[:, j])
    cancelled = rng.random((n_courses, slots)) < cfg.CANCEL_SHARE
    given = (~cancelled).astype(int)
    given_before = np.cumsum(given, axis=1) - given
    keep = given_before < n_effective[:, None]
    infusion_no = np.where(cancelled, 0, given_before + 1)
    completed = (given * keep).sum(axis=1) >= n_induction  # whole induction received
    last_induction = np.where(keep, days, np.datetime64("1970-01-01")).max(axis=1)

    # Boosters every 3-8 weeks for some completers; a cancelled booster is not rescheduled.
    n_boost = np.where(booster & completed,
                       np.minimum(rng.geometric(1.0 - cfg.BOOSTER_CONTINUE, n_courses), cfg.MAX_BOOSTERS), 0)
    low, high = cfg.BOOSTER_GAP_DAYS
    boost_gaps = rng.integers(low, high + 1, (n_courses, cfg.MAX_BOOSTERS))
    boost_days = _roll_weekday(last_induction[:, None] + np.cumsum(boost_gaps, axis=1))
    boost_keep = np.arange(cfg.MAX_BOOSTERS)[None, :] < n_boost[:, None]
    boost_cancelled = rng.random((n_courses, cfg.MAX_BOOSTERS)) < cfg.CANCEL_SHARE

    course_slot = np.repeat(np.arange(n_courses)[:, None], slots, axis=1)
    course_boost = np.repeat(np.arange(n_courses)[:, None], cfg.MAX_BOOSTERS, axis=1)
    return {
        "course_local": np.concatenate([course_slot[keep], course_boost[boost_keep]]),
        "day": np.concatenate([days[keep], boost_days[boost_keep]]),
        "cancelled": np.concatenate([cancelled[keep], boost_cancelled[boost_keep]]),
        "booster": np.concatenate([np.zeros(int(keep.sum()), bool), np.ones(int(boost_keep.sum()), bool)]),
        "infusion_no": np.concatenate([infusion_no[keep], np.zeros(int(boost_keep.sum()), int)]),
        "completed": completed,
    }


def _plan_courses(
    config: SynthConfig, patients: pl.DataFrame, period_end: np.datetime64,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Courses (first, then returns after > 90 days) and the days of their sessions."""
    rng = rng_for(config.seed, PLAN_MONTH, Stream.COURSES)
    indication = patients["indication"].to_numpy()
    patient = patients["patient_idx"].to_numpy()
    start = patients["first_start"].to_numpy().astype("datetime64[D]")
    drug, route = _treatments(rng, indication)
    pcl_base = _normal(rng, cfg.PCL5_BASELINE, len(patient))
    phq_base = _normal(rng, cfg.PHQ9_BASELINE, len(patient))
    gad_base = _normal(rng, cfg.GAD7_BASELINE, len(patient))

    course_parts: list[pl.DataFrame] = []
    session_parts: list[pl.DataFrame] = []
    course_offset = 0
    for course_no in range(1, cfg.MAX_COURSES + 1):
        inside = start < period_end
        patient, start, drug, route = patient[inside], start[inside], drug[inside], route[inside]
        pcl_base, phq_base, gad_base = pcl_base[inside], phq_base[inside], gad_base[inside]
        n = len(patient)
        if n == 0:
            break
        esk = drug == "esketamine"
        n_ind = np.where(
            esk,
            np.array(list(cfg.ESKETAMINE_INDUCTION_SIZES))[_choice(rng, cfg.ESKETAMINE_INDUCTION_SIZES, n)],
            np.array(list(cfg.INDUCTION_SIZES))[_choice(rng, cfg.INDUCTION_SIZES, n)],
        )
        dropout = rng.random(n) < cfg.DROPOUT_SHARE
        n_eff = np.where(dropout, np.floor(rng.random(n) * (n_ind - 1)).astype(int) + 1, n_ind)
        booster = rng.random(n) < cfg.BOOSTER_SHARE
        sched = _schedule(rng, start, esk, n_ind, n_eff, booster)

        course_idx = course_offset + np.arange(n)
        responsiveness = rng.standard_normal(n) + cfg.DROPOUT_RESPONSE_SHIFT * dropout
        course_parts.append(pl.DataFrame({
            "course_idx": course_idx,
            "patient_idx": patient,
            "course_no": np.full(n, course_no),
            "drug": drug,
            "route": route,
            "n_induction": n_ind,
            "dropout": dropout,
            "completed": sched["completed"],
            "responsiveness": responsiveness,
            "responsiveness_mood": 0.7 * responsiveness + 0.71 * rng.standard_normal(n),
            "responsiveness_anxiety": 0.7 * responsiveness + 0.71 * rng.standard_normal(n),
            "pcl5_baseline": pcl_base,
            "phq9_baseline": phq_base,
            "gad7_baseline": gad_base,
            "mg_per_kg": np.where(route == "IM", rng.choice(cfg.IM_DOSE_MG_PER_KG, n),
                                  cfg.IV_DOSE_MG_PER_KG),
            "fixed_dose_mg": np.where(route == "SL", rng.choice(cfg.SL_DOSE_MG, n),
                                      rng.choice(cfg.PO_DOSE_MG, n)),
            "titrate": rng.random(n) < cfg.ESKETAMINE_TITRATE_SHARE,
        }))
        local = sched["course_local"]
        session_parts.append(pl.DataFrame({
            "course_idx": course_idx[local],
            "patient_idx": patient[local],
            "day": sched["day"],
            "cancelled": sched["cancelled"],
            "booster": sched["booster"],
            "infusion_no": sched["infusion_no"],
        }))
        course_offset += n

        # Some patients come back for a new course after more than 90 days without a session.
        last = np.full(n, np.datetime64("1970-01-01"), dtype="datetime64[D]")
        np.maximum.at(last, local, sched["day"])
        back = rng.random(n) < cfg.RETURN_SHARE
        gap = cfg.RETURN_MIN_GAP_DAYS + np.floor(rng.exponential(cfg.RETURN_EXTRA_DAYS_MEAN, n)).astype(int)
        new_start = _roll_weekday(last + gap)
        switch = rng.random(n) < 0.15
        new_drug, new_route = _treatments(rng, indication[patient])
        patient, start = patient[back], new_start[back]
        drug = np.where(switch, new_drug, drug)[back]
        route = np.where(switch, new_route, route)[back]
        pcl_base = np.clip(pcl_base[back] * rng.uniform(0.8, 1.05, int(back.sum())), 8, 78)
        phq_base = np.clip(phq_base[back] * rng.uniform(0.8, 1.05, int(back.sum())), 5, 27)
        gad_base = np.clip(gad_base[back] * rng.uniform(0.8, 1.05, int(back.sum())), 4, 21)

    courses = pl.concat(course_parts)
    schedule = pl.concat(session_parts).filter(pl.col("day") < period_end)
    return courses, schedule


def build_network(config: SynthConfig) -> Network:
    """Plan sites, patients, courses and session days for the whole period."""
    months = config.month_labels
    month_starts = np.array([f"{m}-01" for m in months] + [config.period_end.isoformat()],
                            dtype="datetime64[D]")
    sites, clinicians = _plan_sites(config)
    patients = _plan_patients(config, sites, month_starts)
    courses, schedule = _plan_courses(config, patients, month_starts[-1])
    patients = patients.join(sites.select("site_idx", "site_id", "measure_style"), on="site_idx", how="left")
    return Network(config, months, month_starts, sites, clinicians, patients, courses, schedule)
