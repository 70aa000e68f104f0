"""Questionnaire administrations planned up front, item answers drawn month by month.

The plan has one row per administration (who, which instrument, when, linked session,
and the expected total from the patient's trajectory). Trajectories follow the published
figures in `config`: PCL-5 falls over the induction, PHQ-9/GAD-7 are compared at baseline
and follow-up, CADSS is rated about 40 minutes into IV and intranasal sessions. Item
answers are Binomial(item max, p) with p from the expected total, so totals are realistic
sums of item answers with measurement noise.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines import contract
from pipelines.tools.synth import config as cfg
from pipelines.tools.synth.config import PLAN_MONTH, Stream, rng_for
from pipelines.tools.synth.ids import make_ids
from pipelines.tools.synth.network import Network, month_index

PTSD_INDICATIONS = ("PTSD", "PTSD+MDD")
MOOD_INDICATIONS = ("MDD", "PTSD+MDD", "other")
CADSS_ROUTES = ("IV", "IN")
# What `month_frame` needs of each planned administration.
ITEM_PLAN_COLUMNS = ("response_id", "patient_id", "session_id", "instrument", "administered_at", "target",
                     "item9", "drop_item")


def item_weights(instrument: contract.Instrument) -> np.ndarray:
    """A fixed difficulty profile per instrument (mean 1), so items are not interchangeable."""
    i = np.arange(instrument.n_items)
    w = 1.0 + 0.3 * np.sin(2.1 * i + instrument.n_items)
    return w / w.mean()


def _minutes(values: np.ndarray) -> np.ndarray:
    return np.round(values).astype("timedelta64[m]")


def _at_day_time(
    days: np.ndarray, first_minute: int, last_minute: int, rng: np.random.Generator,
) -> np.ndarray:
    """A random minute between `first_minute` and `last_minute` of each day."""
    minute = rng.integers(first_minute, last_minute, len(days))
    return days.astype("datetime64[D]").astype("datetime64[m]") + minute.astype("timedelta64[m]")


def _frame(
    patient_id: pl.Series | np.ndarray, session_id: pl.Series | np.ndarray | None, instrument: str,
    at: np.ndarray, target: np.ndarray, occasion: str, item9: np.ndarray | None = None,
) -> pl.DataFrame:
    n = len(at)
    return pl.DataFrame({
        "patient_id": pl.Series(patient_id, dtype=pl.String),
        "session_id": pl.Series(session_id, dtype=pl.String) if session_id is not None
        else pl.Series([None] * n, dtype=pl.String),
        "instrument": pl.Series([instrument] * n, dtype=pl.String),
        "administered_at": pl.Series(at.astype("datetime64[ms]")),
        "target": pl.Series(np.asarray(target, dtype=float)),
        "item9": pl.Series(np.full(n, -1) if item9 is None else np.asarray(item9), dtype=pl.Int64),
        "occasion": pl.Series([occasion] * n, dtype=pl.String),
    })


def _kept(rng: np.random.Generator, frame: pl.DataFrame, missed: float | np.ndarray) -> pl.DataFrame:
    """Drop the administrations that were never done (missed assessments)."""
    return frame.filter(pl.Series(rng.random(frame.height) >= missed))


def relapse_effect(after: np.ndarray, relapse_day: np.ndarray) -> np.ndarray:
    """Share of the induction's effect left `after` days past the induction follow-up for a course
    relapsing on `relapse_day` (inf: never): all of it before, then down to RELAPSED_EFFECT over
    RELAPSE_ONSET_DAYS."""
    into = np.clip((after - relapse_day) / cfg.RELAPSE_ONSET_DAYS, 0.0, 1.0)
    return 1.0 - (1.0 - cfg.RELAPSED_EFFECT) * into


def _monitoring(
    rng: np.random.Generator, firsts: pl.DataFrame, follow_at: np.ndarray, ptsd: np.ndarray,
    mood: np.ndarray, pcl_b: np.ndarray, pcl_r: np.ndarray, phq_b: np.ndarray, phq_r: np.ndarray,
) -> list[pl.DataFrame]:
    """Monitoring contacts after the induction follow-up (config: MONITORING_*, RELAPSE_*).

    A monitored course answers K contacts, K geometric (each next contact answered with
    MONITORING_RETENTION), spaced about a month apart. A share of courses relapses (RELAPSE_SHARE)
    on a day drawn from an exponential with median RELAPSE_MEDIAN_DAYS after the follow-up (later
    with boosters); the scores follow `relapse_effect`.
    """
    nc = firsts.height
    monitored = firsts["completed"].to_numpy() & (rng.random(nc) < cfg.MONITORING_SHARE)
    n_contacts = np.where(
        monitored, np.minimum(rng.geometric(1 - cfg.MONITORING_RETENTION, nc), cfg.MONITORING_MAX_CONTACTS), 0
    )
    relapses = rng.random(nc) < cfg.RELAPSE_SHARE
    relapse_day = rng.exponential(cfg.RELAPSE_MEDIAN_DAYS / np.log(2), nc)
    boosted = firsts["boosted"].fill_null(False).to_numpy()
    relapse_day = np.where(relapses, relapse_day * np.where(boosted, cfg.BOOSTER_RELAPSE_FACTOR, 1.0), np.inf)
    course = np.repeat(np.arange(nc), n_contacts)
    mean, sd, low, high = cfg.MONITORING_INTERVAL_DAYS
    gap = np.clip(np.round(rng.normal(mean, sd, len(course))), low, high).astype(int)
    # days after the induction follow-up: the running sum of the gaps within each course
    running = np.concatenate([[0], np.cumsum(gap)])
    course_first = np.repeat(np.cumsum(n_contacts) - n_contacts, n_contacts)
    after_follow_up = running[1:] - running[course_first]
    effect = relapse_effect(after_follow_up, relapse_day[course])
    day = follow_at[course].astype("datetime64[D]") + after_follow_up
    at = _at_day_time(day, 9 * 60, 20 * 60, rng)
    noise = rng.normal(0.0, cfg.MONITORING_OCCASION_SD, len(course))
    pid = firsts["patient_id"].gather(course)
    pcl_target = pcl_b[course] * (1 - (0.95 * pcl_r[course] * effect + noise))
    phq_target = phq_b[course] * (1 - (phq_r[course] * effect + noise))
    item9 = rng.binomial(3, np.clip(cfg.PHQ9_ITEM9_WEIGHT * np.clip(phq_target, 0, 27) / 27, 0, 1))
    is_ptsd, is_mood = ptsd[course], mood[course]
    return [
        _frame(pid, None, "PCL5", at, pcl_target, "monitoring").filter(pl.Series(is_ptsd)),
        _frame(pid, None, "PHQ9", at + _minutes(np.full(len(course), 4)), phq_target, "monitoring",
               item9).filter(pl.Series(is_mood)),
    ]


def plan_administrations(net: Network, sessions: pl.DataFrame) -> pl.DataFrame:
    """Every administration of the period, sorted by time, with its response_id and month."""
    config = net.config
    rng = rng_for(config.seed, PLAN_MONTH, Stream.QUESTIONNAIRE_PLAN)
    period_start = net.period_start.astype("datetime64[m]")
    s = sessions.sort("session_start")
    given = s.filter(~pl.col("cancelled"))

    # --- per course: first session given, baselines and responsiveness -----------------------
    firsts = (
        s.group_by("course_idx").agg(pl.col("session_start").min().alias("course_first"))
        .join(given.group_by("course_idx").agg(
            pl.col("session_start").min().alias("first_given"),
            pl.col("session_id").sort_by("session_start").first().alias("first_session_id"),
        ), on="course_idx", how="inner")
        .join(s.group_by("course_idx").agg(pl.col("booster").any().alias("boosted")), on="course_idx",
              how="left")
        .join(net.courses, on="course_idx", how="left")
        .join(net.patients.select("patient_idx", "patient_id", "indication"), on="patient_idx", how="left")
        .sort("course_idx")
    )
    nc = firsts.height
    first_given = firsts["first_given"].to_numpy().astype("datetime64[m]")
    lead = rng.integers(cfg.BASELINE_LEAD_DAYS[0], cfg.BASELINE_LEAD_DAYS[1] + 1, nc)
    earlier = _at_day_time(first_given.astype("datetime64[D]") - lead, 8 * 60, 20 * 60, rng)
    morning = first_given - _minutes(rng.uniform(30, 120, nc))
    same_morning = (rng.random(nc) < cfg.BASELINE_SAME_MORNING_SHARE) | (earlier < period_start)
    baseline_at = np.where(same_morning, morning, earlier)
    linked = same_morning & (rng.random(nc) < 0.7)
    baseline_session = firsts["first_session_id"].set(pl.Series(~linked), None)

    z = firsts["responsiveness"].to_numpy()
    pcl_b = firsts["pcl5_baseline"].to_numpy()
    pcl_r = np.clip(cfg.PCL5_REDUCTION[0] + cfg.PCL5_REDUCTION[1] * z, -0.35, 0.95)
    phq_b = firsts["phq9_baseline"].to_numpy()
    phq_r = np.clip(
        cfg.PHQ9_REDUCTION[0] + cfg.PHQ9_REDUCTION[1] * firsts["responsiveness_mood"].to_numpy(), -0.3, 1.0
    )
    gad_b = firsts["gad7_baseline"].to_numpy()
    gad_r = np.clip(
        cfg.GAD7_REDUCTION[0] + cfg.GAD7_REDUCTION[1] * firsts["responsiveness_anxiety"].to_numpy(), -0.3, 1.0
    )
    fu_mean, fu_sd, fu_low, fu_high = cfg.FOLLOW_UP_DAYS
    fu_days = np.clip(np.round(rng.normal(fu_mean, fu_sd, nc)), fu_low, fu_high).astype(int)
    course_first = firsts["course_first"].to_numpy().astype("datetime64[D]")
    follow_at = _at_day_time(course_first + fu_days, 9 * 60, 20 * 60, rng)
    occasion_noise = rng.normal(0.0, cfg.PCL5_OCCASION_SD, nc)
    dropout = firsts["dropout"].to_numpy()
    fu_missed = np.where(dropout, cfg.MISSED_SHARE["follow_up_dropout"], cfg.MISSED_SHARE["follow_up"])

    # PHQ-9 item 9 (self-harm thoughts): planned per course so follow-up can be compared with baseline.
    phq_fu = phq_b * (1 - phq_r)
    item9_base = rng.binomial(3, np.clip(cfg.PHQ9_ITEM9_WEIGHT * phq_b / 27, 0, 1))
    rise = (rng.random(nc) < cfg.PHQ9_ITEM9_RISE_SHARE) & (item9_base < 3)
    item9_later = rng.binomial(3, np.clip(cfg.PHQ9_ITEM9_WEIGHT * phq_fu / 27, 0, 1))
    item9_fu = np.where(rise, item9_base + 1, np.minimum(item9_later, item9_base))

    indication = firsts["indication"].to_numpy()
    ptsd = np.isin(indication, PTSD_INDICATIONS)
    mood = np.isin(indication, MOOD_INDICATIONS)
    pid = firsts["patient_id"]
    parts: list[pl.DataFrame] = []

    def course_part(mask: np.ndarray, *args, **kwargs) -> pl.DataFrame:
        return _frame(*args, **kwargs).filter(pl.Series(mask))

    missed_base = cfg.MISSED_SHARE["baseline"]
    parts.append(_kept(rng, course_part(ptsd, pid, baseline_session, "PCL5", baseline_at, pcl_b, "baseline"),
                       missed_base))
    parts.append(_kept(rng, course_part(mood, pid, baseline_session, "PHQ9", baseline_at + _minutes(
        np.full(nc, 4)), phq_b, "baseline", item9_base), missed_base))
    parts.append(_kept(rng, course_part(mood, pid, baseline_session, "GAD7", baseline_at + _minutes(
        np.full(nc, 7)), gad_b, "baseline"), missed_base))
    pcl_fu = pcl_b * (1 - (0.95 * pcl_r + occasion_noise))
    fu = [
        course_part(ptsd, pid, None, "PCL5", follow_at, pcl_fu, "follow_up"),
        course_part(mood, pid, None, "PHQ9", follow_at + _minutes(np.full(nc, 4)), phq_fu, "follow_up",
                    item9_fu),
        course_part(mood, pid, None, "GAD7", follow_at + _minutes(np.full(nc, 7)), gad_b * (1 - gad_r),
                    "follow_up"),
    ]
    for part, mask in zip(fu, (ptsd, mood, mood), strict=True):
        parts.append(part.filter(pl.Series(rng.random(part.height) >= fu_missed[mask])))

    # --- monitoring after the induction: about monthly PHQ-9 / PCL-5 without a session --------
    parts += _monitoring(rng, firsts, follow_at, ptsd, mood, pcl_b, pcl_r, phq_b, phq_r)

    # --- per session: post-infusion and pre-booster PCL-5, CADSS at ~40 minutes ----------------
    course_pos = {int(c): i for i, c in enumerate(firsts["course_idx"].to_list())}
    g = given.filter(pl.col("course_idx").is_in(list(course_pos)))
    pos = np.array([course_pos[int(c)] for c in g["course_idx"].to_numpy()], dtype=int)
    start = g["session_start"].to_numpy().astype("datetime64[m]")
    # g is in time order, so within each patient the next row is the next session given.
    next_start = (
        g.select(pl.col("session_start").shift(-1).over("patient_idx"))
        .to_series().to_numpy().astype("datetime64[m]")
    )
    end = start + _minutes(g["duration_true"].to_numpy())
    same_day = end + _minutes(rng.uniform(30, 180, g.height))
    next_day = _at_day_time(start.astype("datetime64[D]") + 1, 8 * 60, 20 * 60, rng)
    too_late = ~np.isnat(next_start) & (next_day >= next_start)
    on_same_day = (rng.random(g.height) < cfg.POST_INFUSION_SAME_DAY_SHARE) | too_late
    post_at = np.where(on_same_day, same_day, next_day)
    infusion = g["infusion_no"].to_numpy()
    booster = g["booster"].to_numpy()
    effect = np.array(cfg.PCL5_EFFECT_BY_INFUSION)[np.clip(infusion, 1, len(cfg.PCL5_EFFECT_BY_INFUSION)) - 1]
    noise = rng.normal(0.0, cfg.PCL5_OCCASION_SD, g.height)
    post_target = pcl_b[pos] * (1 - (effect * pcl_r[pos] + noise))
    is_ptsd = ptsd[pos]
    post = _frame(g["patient_id"], g["session_id"], "PCL5", post_at, post_target, "post_infusion")
    parts.append(_kept(rng, post.filter(pl.Series(is_ptsd & ~booster)), cfg.MISSED_SHARE["post_infusion"]))
    pre_at = start - _minutes(rng.uniform(15, 60, g.height))
    pre_target = pcl_b[pos] * (1 - (0.8 * pcl_r[pos] + noise))
    pre = _frame(g["patient_id"], g["session_id"], "PCL5", pre_at, pre_target, "booster")
    parts.append(_kept(rng, pre.filter(pl.Series(is_ptsd & booster)), cfg.MISSED_SHARE["booster"]))

    shape, scale = cfg.CADSS_GAMMA
    with_ae, without_ae = cfg.CADSS_DISSOCIATION_FACTOR
    cadss_target = (rng.gamma(shape, scale, g.height) * np.sqrt(g["dissociation_factor"].to_numpy())
                    * np.where(g["dissociation_ae"].to_numpy(), with_ae, without_ae))
    cadss_at = start + _minutes(40 + rng.integers(-3, 6, g.height))
    rated = np.isin(g["route"].to_numpy(), CADSS_ROUTES) & (g["duration_true"].to_numpy() >= 40)
    cadss = _frame(g["patient_id"], g["session_id"], "CADSS", cadss_at, cadss_target, "cadss")
    parts.append(_kept(rng, cadss.filter(pl.Series(rated)), cfg.MISSED_SHARE["cadss"]))

    plan = (
        pl.concat(parts)
        .filter((pl.col("administered_at") >= net.period_start.astype("datetime64[ms]"))
                & (pl.col("administered_at") < net.period_end.astype("datetime64[ms]")))
        .sort("administered_at", "patient_id", "instrument")
    )
    n = plan.height
    maximum = {i.name: i.n_items * i.item_max for i in contract.INSTRUMENTS}
    n_items = plan["instrument"].replace_strict({i.name: i.n_items for i in contract.INSTRUMENTS}).to_numpy()
    incomplete = rng.random(n) < cfg.INCOMPLETE_SHARE
    drop_item = np.where(incomplete, np.floor(rng.random(n) * n_items).astype(int) + 1, 0)
    at = plan["administered_at"].to_numpy().astype("datetime64[D]")
    return plan.with_columns(
        pl.Series("response_id", make_ids("response", np.arange(n), config.seed)),
        pl.Series("month_idx", month_index(at, net.month_starts)),
        pl.Series("drop_item", drop_item),
        pl.col("target").clip(0.0, pl.col("instrument").replace_strict(maximum).cast(pl.Float64)),
    )


def month_frame(rng: np.random.Generator, plan: pl.DataFrame) -> pl.DataFrame:
    """Item rows of one month's administrations (one row per answered item), contract order."""
    parts = []
    for instrument in contract.INSTRUMENTS:
        adm = plan.filter(pl.col("instrument") == instrument.name)
        if adm.height == 0:
            continue
        k, n_items, top = adm.height, instrument.n_items, instrument.item_max
        w = item_weights(instrument)
        target = adm["target"].to_numpy()
        p = np.clip(target[:, None] / (n_items * top) * w[None, :], 0.0, 1.0)
        planned9 = adm["item9"].to_numpy()
        if instrument.name == "PHQ9":
            rest = np.maximum(target - planned9, 0.0)
            w_rest = w[:8] / w[:8].mean()
            p[:, :8] = np.clip(rest[:, None] / (8 * top) * w_rest[None, :], 0.0, 1.0)
        values = rng.binomial(top, p)
        if instrument.name == "PHQ9":
            values[:, 8] = planned9
        values = np.clip(values, instrument.item_min, instrument.item_max)
        items = np.tile(np.arange(1, n_items + 1), k)
        row = np.repeat(np.arange(k), n_items)
        keep = items != adm["drop_item"].to_numpy()[row]
        parts.append(pl.DataFrame({
            "response_id": adm["response_id"].gather(row[keep]),
            "patient_id": adm["patient_id"].gather(row[keep]),
            "session_id": adm["session_id"].gather(row[keep]),
            "instrument": adm["instrument"].gather(row[keep]),
            "administered_at": adm["administered_at"].gather(row[keep]),
            "item": items[keep],
            "value": values.reshape(-1)[keep],
        }))
    if not parts:
        return pl.DataFrame(schema={c: pl.String for c in contract.QUESTIONNAIRES.column_names})
    return (
        pl.concat(parts)
        .sort("administered_at", "response_id", "item")
        .select(contract.QUESTIONNAIRES.column_names)
    )
