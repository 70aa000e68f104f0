"""Sizes and clinical rates of the synthetic clinic network.

`SynthConfig` says how big a network to simulate; `SCALES` holds the presets the CLI
offers. The module-level constants are the clinical shapes the generator imitates;
each names its source in `shared/reference/clinical-definitions.md` or says that it is
a plausible design choice. Vocabulary (drugs, routes, AE terms, ...) comes from
`pipelines.contract`; `_check_vocabulary` fails at import if a key here drifts from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from enum import IntEnum

import numpy as np

from pipelines import contract

FILE_FORMATS: tuple[str, ...] = ("csv", "csv.gz", "parquet")


@dataclass(frozen=True)
class SynthConfig:
    """How big a network to simulate, over which months, and how dirty its exports are."""

    sites: int
    patients: int  # total patients enrolled over the whole period
    months: int
    start_month: str = "2025-01"  # YYYY-MM, first export month
    seed: int = 1
    defect_rate: float = 0.0  # probability per data row of one injected defect
    file_format: str = "csv"  # "csv" | "csv.gz" | "parquet"

    def __post_init__(self) -> None:
        if self.sites < 1 or self.patients < 1 or self.months < 1:
            raise ValueError("sites, patients and months must be at least 1")
        if not contract.MONTH_RE.match(self.start_month):
            raise ValueError(f"start_month must be YYYY-MM, got {self.start_month!r}")
        if self.seed < 0:
            raise ValueError("seed must be a non-negative integer")
        if not 0.0 <= self.defect_rate <= 0.5:
            raise ValueError("defect_rate must lie in [0, 0.5]")
        if self.file_format not in FILE_FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}")

    @property
    def month_labels(self) -> list[str]:
        """The export months, YYYY-MM, in order."""
        year, month = (int(p) for p in self.start_month.split("-"))
        labels = []
        for i in range(self.months):
            y, m = divmod(month - 1 + i, 12)
            labels.append(f"{year + y:04d}-{m + 1:02d}")
        return labels

    @property
    def period_end(self) -> date:
        """The first day after the last export month (exclusive end of all timestamps)."""
        y, m = (int(p) for p in self.month_labels[-1].split("-"))
        return date(y + (m == 12), m % 12 + 1, 1)

    @property
    def extension(self) -> str:
        """File extension with its dot, as in `contract.FILE_EXTENSIONS`."""
        return "." + self.file_format

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Presets. Every period ends before 2026-11 so that no timestamp lies in the future.
# Vitals rows are ~140 per non-cancelled session (28 time points x 5 measures); patient
# counts were tuned by measurement to reach the intended vitals volume.
SCALES: dict[str, SynthConfig] = {
    # small: the demo of `outcomes run`; 18 months, so the report has a trend and the first
    # cohorts' 12-month PHQ-9 windows (12 months + 60 days) close, and enough patients per month
    # that the network rows survive small-cell suppression.
    "small": SynthConfig(sites=4, patients=1_500, months=18, start_month="2025-01"),
    "medium": SynthConfig(sites=20, patients=4_900, months=24, start_month="2024-01"),
    "large": SynthConfig(sites=100, patients=28_000, months=36, start_month="2023-01"),
    "xl": SynthConfig(sites=200, patients=56_000, months=36, start_month="2023-01"),
}


class Stream(IntEnum):
    """Independent random streams: each part draws from its own so parts do not shift each other."""

    SITES = 1
    PATIENTS = 2
    COURSES = 3
    SESSIONS = 4
    ADVERSE_EVENTS = 5
    VITALS_PLAN = 6
    QUESTIONNAIRE_PLAN = 7
    IDS = 8
    VITALS = 11
    ITEMS = 12
    DEFECTS = 20  # + export index


PLAN_MONTH = -1  # month index used for draws made once for the whole network


def rng_for(seed: int, month_index: int, stream: int) -> np.random.Generator:
    """A generator seeded from (seed, month, stream), so each month can be made on its own."""
    return np.random.default_rng([seed, month_index + 1, int(stream)])


# --- Network -----------------------------------------------------------------------------
CLINICIANS_PER_SITE = (2, 5)  # inclusive
SITE_LATE_OPENING_SHARE = 0.25  # sites that join the network after the first month
SITE_LOINC_SHARE = 0.20  # sites exporting LOINC codes instead of measure names
SITE_LOINC_ALT_SPO2_SHARE = 0.30  # of those, sites coding SpO2 as 2708-6 instead of 59408-5

# Design choice for a PTSD-focused ketamine network.
INDICATION_MIX: dict[str, float] = {"PTSD": 0.45, "PTSD+MDD": 0.35, "MDD": 0.15, "other": 0.05}
SEX_MIX: dict[str, float] = {"F": 0.55, "M": 0.42, "X": 0.02, "U": 0.01}
AGE_MIX: dict[str, float] = {
    "18-24": 0.10, "25-34": 0.27, "35-44": 0.27, "45-54": 0.19,
    "55-64": 0.11, "65-74": 0.045, "75-89": 0.013, "90+": 0.002,
}
AGE_MID: dict[str, float] = {
    "18-24": 21, "25-34": 30, "35-44": 40, "45-54": 50, "55-64": 60, "65-74": 70, "75-89": 80, "90+": 91,
}
WEIGHT_MEAN_SD = (80.0, 18.0)
WEIGHT_REALISTIC = (40.0, 180.0)  # inside the contract's 30-250

# Treatment plan per indication: (drug, route) -> probability. Esketamine is licensed for
# depression, so it is rarer for PTSD alone; overall ~12% of patients.
TREATMENT_MIX: dict[str, dict[tuple[str, str], float]] = {
    "PTSD": {("ketamine", "IV"): 0.89, ("ketamine", "IM"): 0.04, ("esketamine", "IN"): 0.04,
             ("ketamine", "SL"): 0.02, ("ketamine", "PO"): 0.01},
    "PTSD+MDD": {("ketamine", "IV"): 0.77, ("ketamine", "IM"): 0.04, ("esketamine", "IN"): 0.15,
                 ("ketamine", "SL"): 0.02, ("ketamine", "PO"): 0.02},
    "MDD": {("ketamine", "IV"): 0.62, ("ketamine", "IM"): 0.04, ("esketamine", "IN"): 0.30,
            ("ketamine", "SL"): 0.02, ("ketamine", "PO"): 0.02},
    "other": {("ketamine", "IV"): 0.85, ("ketamine", "IM"): 0.05, ("esketamine", "IN"): 0.05,
              ("ketamine", "SL"): 0.03, ("ketamine", "PO"): 0.02},
}

# --- Courses and sessions (Feder 2021: 6 infusions over 2 weeks; Albott 2018: Mon-Wed-Fri) --
IV_DOSE_MG_PER_KG = 0.5  # Feder 2014/2021, Albott 2018
IM_DOSE_MG_PER_KG = (0.5, 0.75, 1.0)
SL_DOSE_MG = (50.0, 100.0, 150.0)
PO_DOSE_MG = (100.0, 150.0, 200.0)
ESKETAMINE_DOSES_MG = (56.0, 84.0)  # Spravato label
ESKETAMINE_TITRATE_SHARE = 0.6  # patients moved from 56 to 84 mg after the first session

INDUCTION_SIZES = {4: 0.04, 5: 0.08, 6: 0.72, 7: 0.08, 8: 0.08}  # McInnes 2022: 4-8 infusions
ESKETAMINE_INDUCTION_SIZES = {6: 0.1, 7: 0.1, 8: 0.8}  # label: twice weekly for 4 weeks
# Calendar days to the next session (then moved to the next weekday).
KETAMINE_GAP_DAYS = {1: 0.03, 2: 0.55, 3: 0.30, 4: 0.08, 5: 0.04}
ESKETAMINE_GAP_DAYS = {3: 0.45, 4: 0.45, 5: 0.05, 7: 0.05}
MAX_INDUCTION_SLOTS = 14
DROPOUT_SHARE = 0.12  # stop during the induction
BOOSTER_SHARE = 0.5  # of completers, who come back for maintenance
BOOSTER_GAP_DAYS = (21, 56)  # every 3-8 weeks
BOOSTER_CONTINUE = 0.7  # chance of one more booster (geometric count)
MAX_BOOSTERS = 12
RETURN_SHARE = 0.10  # new course after more than 90 days without a session
RETURN_MIN_GAP_DAYS = 91
RETURN_EXTRA_DAYS_MEAN = 120.0
MAX_COURSES = 3

CANCEL_SHARE = 0.05
STOP_EARLY_SHARE = 0.02
# stop_reason text -> (probability, matching adverse-event term)
STOP_REASONS: dict[str, tuple[float, str]] = {
    "hypertension": (0.30, "hypertension"),
    "nausea/vomiting": (0.25, "vomiting"),
    "emergence reaction": (0.15, "emergence_reaction"),
    "patient request": (0.30, "anxiety"),
}
CLINIC_OPEN_MINUTE, CLINIC_LAST_START_MINUTE = 8 * 60, 16 * 60  # sessions start 08:00-16:00
PRIMARY_CLINICIAN_SHARE = 0.85
MISSING_WEIGHT, MISSING_DURATION, MISSING_CLINICIAN = 0.05, 0.02, 0.03

# Session duration in minutes: mean, SD, low, high (infusion length or observation time).
DURATION: dict[str, tuple[float, float, float, float]] = {
    "IV": (40, 3, 30, 55),  # 0.5 mg/kg over 40 minutes
    "IM": (60, 8, 40, 90),
    "IN": (125, 5, 120, 150),  # observe >= 2 hours after esketamine
    "SL": (90, 12, 60, 120),
    "PO": (90, 12, 60, 120),
}

# --- Adverse events (per non-cancelled session) ---------------------------------------------
# IV/IM ketamine: design choice guided by the esketamine label terms; esketamine from ASPIRE
# pooled rates scaled to a real-world clinic. Hypertension is added from the vitals plan.
AE_RATES: dict[str, dict[str, float]] = {
    "parenteral": {
        "dissociation": 0.30, "dizziness": 0.15, "nausea": 0.12, "sedation": 0.10, "headache": 0.08,
        "anxiety": 0.06, "blurred_vision": 0.05, "vomiting": 0.03, "hallucination": 0.02,
        "tachycardia": 0.01, "agitation": 0.01, "emergence_reaction": 0.005, "other": 0.01,
    },
    "intranasal": {
        "dissociation": 0.25, "dizziness": 0.25, "nausea": 0.18, "sedation": 0.08, "headache": 0.07,
        "anxiety": 0.04, "blurred_vision": 0.03, "vomiting": 0.04, "hallucination": 0.01,
        "tachycardia": 0.005, "agitation": 0.005, "emergence_reaction": 0.002, "other": 0.01,
    },
    "oral": {
        "dissociation": 0.10, "dizziness": 0.08, "nausea": 0.08, "sedation": 0.08, "headache": 0.05,
        "anxiety": 0.03, "blurred_vision": 0.02, "vomiting": 0.02, "hallucination": 0.005,
        "tachycardia": 0.005, "agitation": 0.005, "emergence_reaction": 0.001, "other": 0.01,
    },
}
ROUTE_GROUP: dict[str, str] = {"IV": "parenteral", "IM": "parenteral", "IN": "intranasal",
                               "SL": "oral", "PO": "oral"}
# CTCAE grades 1-4 of a reported term; grade 5 (death) never simulated. Severe (grade >= 3) events
# are about 1% of sessions or fewer in published series (Yale chart review 2024: severe
# hypertension in 0.98% of IV sessions) and serious ones rarer still (Feder 2021: none): with the
# rates above these give grade >= 3 in about 1% of the demo's sessions (3.4% before).
AE_GRADE_P = (0.86, 0.1315, 0.008, 0.0005)
# Of the sessions whose blood pressure reaches hypertensive urgency, the share whose reported
# hypertension is graded 3 (the rest 2): most urgencies resolve with observation.
SEVERE_BP_GRADE_3_SHARE = 0.25
HYPERTENSION_AE_P = {"baseline": 0.004, "elevated": 0.08, "severe": 0.6}  # by planned peak

# --- Vitals (Yale chart review 2024: +16/+11 mmHg peaking at 40 min; 0.98% severe) ---------
VITAL_OFFSETS_MIN = np.arange(-15, 121, 5)  # 28 time points around the session start
BASELINE = {  # per patient: mean, SD, low, high
    "systolic_bp": (125.0, 14.0, 92.0, 170.0),
    "diastolic_bp": (78.0, 9.0, 52.0, 102.0),
    "heart_rate": (75.0, 11.0, 48.0, 110.0),
    "spo2": (97.5, 1.0, 94.0, 99.5),
    "resp_rate": (14.0, 2.0, 9.0, 20.0),
}
READING_NOISE_SD = {"systolic_bp": 4.0, "diastolic_bp": 3.0, "heart_rate": 3.0, "spo2": 0.6,
                    "resp_rate": 1.0}
# Blood-pressure response per route group: (systolic mean, SD, diastolic/systolic ratio, peak minute)
BP_RESPONSE: dict[str, tuple[float, float, float, float]] = {
    "parenteral": (16.0, 7.0, 0.68, 40.0),
    "intranasal": (9.0, 5.0, 0.65, 40.0),
    "oral": (6.0, 4.0, 0.65, 60.0),
}
IM_PEAK_MINUTE = 25.0
HR_RESPONSE = {"parenteral": (8.0, 5.0), "intranasal": (5.0, 4.0), "oral": (3.0, 3.0)}
SEVERE_BP_SHARE = {"parenteral": 0.008, "intranasal": 0.005, "oral": 0.003}  # >= 180 / >= 110
SEVERE_SYSTOLIC, SEVERE_DIASTOLIC = 180, 110  # Hebert & Vidt 2008 hypertensive urgency
DESATURATION_SHARE = 0.002  # sessions with a reading below 90%

# --- Questionnaires --------------------------------------------------------------------------
# Osmind PTSD cohort: PCL-5 ~47 at baseline, ~28 after infusion 4; >= 30% response 27% after
# infusion 1 and 70% after infusion 6. Effect fraction reached after infusion k (k = 1..8):
PCL5_BASELINE = (47.0, 11.0, 8.0, 78.0)  # mean, SD, low, high
PCL5_REDUCTION = (0.47, 0.27)  # mean, SD of the final relative reduction
PCL5_EFFECT_BY_INFUSION = (0.40, 0.60, 0.75, 0.85, 0.93, 1.0, 1.0, 1.0)
PCL5_OCCASION_SD = 0.06
DROPOUT_RESPONSE_SHIFT = -0.7  # in SD of responsiveness: dropouts respond less
# McInnes 2022: PHQ-9 response 53.6%, remission 28.9%, 6.0% increased suicidal ideation.
PHQ9_BASELINE = (17.5, 4.5, 6.0, 27.0)
PHQ9_REDUCTION = (0.53, 0.33)
PHQ9_ITEM9_WEIGHT = 0.25  # item 9 endorsed less than the other items
PHQ9_ITEM9_RISE_SHARE = 0.06
GAD7_BASELINE = (14.0, 4.0, 4.0, 21.0)
GAD7_REDUCTION = (0.45, 0.30)
# CADSS at ~40 minutes: mean 7.7, SD 9.2 (J Affect Disord 2018;227:11).
CADSS_GAMMA = (1.5, 5.0)  # shape, scale of the session's expected total (before AE adjustment)
CADSS_DISSOCIATION_FACTOR = (1.7, 0.75)  # with / without a dissociation AE
BASELINE_LEAD_DAYS = (1, 14)
BASELINE_SAME_MORNING_SHARE = 0.15
FOLLOW_UP_DAYS = (28.0, 5.0, 14, 42)  # mean, SD, low, high after course start
POST_INFUSION_SAME_DAY_SHARE = 0.6
# Share of scheduled administrations that never happen, by occasion.
# Monitoring after the induction (measurement-based care): a share of the courses completed
# answer PHQ-9 (mood indications) and PCL-5 (PTSD) about monthly after the induction follow-up,
# without a session, each contact with a chance of staying in monitoring (the next one is never
# answered once a patient leaves). Share, spacing and retention are design choices of this
# project (clinical-definitions.md has no follow-up figures beyond the induction).
MONITORING_SHARE = 0.7  # of completed courses
MONITORING_INTERVAL_DAYS = (30.0, 6.0, 21, 45)  # mean, SD, low, high between contacts
MONITORING_RETENTION = 0.92  # chance of answering the next contact: 0.92^10 = 43% still answer at 10 months
MONITORING_MAX_CONTACTS = 18
MONITORING_OCCASION_SD = 0.08  # relative noise of each monitoring score
# Relapse after the induction, from the induction follow-up on. KetECT (Ekstrand et al. 2022, Int
# J Neuropsychopharmacol 25:339, ketamine arm): 70% of remitters relapsed within 12 months, a
# median of 57 days in remission; Murrough et al. 2013 (Biol Psychiatry 74:250): a median of 18
# days to relapse after six infusions without maintenance. A relapsing course keeps its effect
# until its relapse day (exponential, median RELAPSE_MEDIAN_DAYS), then loses most of it over
# about three weeks. Boosters doubling the time to relapse is a design choice of this project.
RELAPSE_SHARE = 0.70
RELAPSE_MEDIAN_DAYS = 57.0
BOOSTER_RELAPSE_FACTOR = 2.0  # courses with maintenance sessions relapse this much later
RELAPSED_EFFECT = 0.25  # share of the induction's effect left after a relapse
RELAPSE_ONSET_DAYS = 21.0
MISSED_SHARE = {"baseline": 0.05, "post_infusion": 0.12, "follow_up": 0.20, "follow_up_dropout": 0.40,
                "booster": 0.15, "cadss": 0.08}
INCOMPLETE_SHARE = 0.02  # administrations with one item left blank (row absent)


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"synth config out of step with pipelines.contract: {what}")


def _check_vocabulary() -> None:
    """Fail at import if a rate table names a term, route or band the contract does not know."""
    _require(set(INDICATION_MIX) <= set(contract.INDICATIONS), "indications")
    _require(set(SEX_MIX) <= set(contract.SEXES), "sexes")
    _require(set(AGE_MIX) <= set(contract.AGE_BANDS) and set(AGE_MID) == set(AGE_MIX), "age bands")
    _require(set(ROUTE_GROUP) <= set(contract.ROUTES) and set(DURATION) <= set(contract.ROUTES), "routes")
    for mix in TREATMENT_MIX.values():
        _require(all(d in contract.DRUGS and r in contract.ROUTES for d, r in mix), "treatments")
    for rates in AE_RATES.values():
        _require(set(rates) <= set(contract.AE_TERMS), "AE terms")
    _require(all(term in contract.AE_TERMS for _, term in STOP_REASONS.values()), "stop-reason AEs")
    _require(set(BASELINE) == {m.name for m in contract.VITAL_MEASURES}, "vital measures")
    for name, (_, _, low, high) in BASELINE.items():
        m = contract.VITAL_BY_CODE[name]
        _require(m.plausible_min <= low < high <= m.plausible_max, f"{name} baseline range")
    weight = contract.SESSIONS.column("weight_kg")
    _require(weight.min is not None and weight.max is not None, "weight range")
    _require(weight.min <= WEIGHT_REALISTIC[0] < WEIGHT_REALISTIC[1] <= weight.max, "weight range")
    _require({"PCL5", "PHQ9", "GAD7", "CADSS"} <= set(contract.INSTRUMENT_BY_NAME), "instruments")


_check_vocabulary()
