"""The month-by-month driver: plan the network once, then write each month's three exports.

Sessions and questionnaire administrations are planned for the whole period (small);
vitals readings and questionnaire item rows are drawn per month from generators seeded
with (seed, month, stream), written, and dropped, so memory stays bounded by one month.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from pipelines import contract
from pipelines.ingest.discover import SYNTHETIC_MANIFEST
from pipelines.tools.synth import defects as defects_mod
from pipelines.tools.synth import questionnaires, sessions, vitals, writer
from pipelines.tools.synth.config import Stream, SynthConfig, rng_for
from pipelines.tools.synth.network import build_network

SYNTH_FOLDER = SYNTHETIC_MANIFEST.parent.name  # its manifest marks the landing folder as synthetic
_VITALS_PLAN_COLUMNS = (
    "session_id", "session_start", "measure_style", "sess_systolic_bp", "sess_diastolic_bp",
    "sess_heart_rate", "sess_spo2", "sess_resp_rate", "amp_systolic", "amp_diastolic", "amp_heart_rate",
    "amp_spo2_dip", "peak_minute", "severe_kind", "severe_target", "desaturation",
)
_ORPHAN_BLOCK = 1_000_000  # orphan ids per (month, export): indexes beyond every real id


@dataclass
class SynthSummary:
    """What `generate` wrote: files, rows per export and month, injected defects, speed."""

    config: SynthConfig
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rows_per_month: dict[str, dict[str, int]] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: `rows` maps export -> total rows; `rows_per_month` export -> month -> rows."""
        return {
            "config": self.config.to_dict(),
            "files": [str(p) for p in self.files],
            "rows": dict(self.rows),
            "rows_per_month": {k: dict(v) for k, v in self.rows_per_month.items()},
            "defects": dict(self.defects),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }


def _check_period(config: SynthConfig, today: date) -> None:
    if config.period_end > today:
        raise ValueError(
            f"{config.start_month} + {config.months} months ends on {config.period_end}, after today "
            f"({today}): exports would carry future timestamps"
        )


def generate(out_dir: Path, config: SynthConfig, progress: bool = False) -> SynthSummary:
    """Write the exports of a synthetic clinic network into `out_dir`; same config, same bytes."""
    _check_period(config, date.today())
    started = time.perf_counter()
    out_dir = Path(out_dir)
    summary = SynthSummary(config=config, rows={e: 0 for e in contract.EXPORTS},
                           rows_per_month={e: {} for e in contract.EXPORTS},
                           defects={k: 0 for k in defects_mod.KINDS})

    net = build_network(config)
    session_plan = sessions.plan_sessions(net)
    admin_plan = questionnaires.plan_administrations(net, session_plan)
    vitals_plan = session_plan.filter(~pl.col("cancelled")).select("month_idx", *_VITALS_PLAN_COLUMNS)
    session_plan = session_plan.select("month_idx", *contract.SESSIONS.column_names)  # free plan columns
    admin_plan = admin_plan.select("month_idx", *questionnaires.ITEM_PLAN_COLUMNS)
    orphan_base = {"vitals": session_plan.height, "questionnaires": net.patients.height}
    months_labels = net.months
    del net

    manifest_files: dict[str, int] = {}
    log: list[defects_mod.Defect] = []
    months = tqdm(months_labels, desc="synth", unit="month", file=sys.stderr, disable=not progress)
    for m, month in enumerate(months):
        frames = {
            "sessions": sessions.month_frame(session_plan, m),
            "vitals": vitals.month_frame(rng_for(config.seed, m, Stream.VITALS),
                                         vitals_plan.filter(pl.col("month_idx") == m)),
            "questionnaires": questionnaires.month_frame(rng_for(config.seed, m, Stream.ITEMS),
                                                         admin_plan.filter(pl.col("month_idx") == m)),
        }
        for e, export in enumerate(contract.EXPORTS):
            text = writer.to_text(frames.pop(export))
            name = contract.file_name(export, month, config.extension)
            edits: dict[int, str] = {}
            if config.defect_rate > 0:
                first = orphan_base.get(export, 0) + (m * len(contract.EXPORTS) + e + 1) * _ORPHAN_BLOCK
                text, edits, found = defects_mod.inject(
                    text, export=export, month=month, file=name, rate=config.defect_rate,
                    rng=rng_for(config.seed, m, Stream.DEFECTS + e), csv=config.file_format != "parquet",
                    orphan_index=np.arange(first, first + _ORPHAN_BLOCK), seed=config.seed,
                )
                log.extend(found)
            path = out_dir / export / name
            writer.write_export(text, path, config.file_format, edits)
            summary.files.append(path)
            summary.rows[export] += text.height
            summary.rows_per_month[export][month] = text.height
            manifest_files[f"{export}/{name}"] = text.height
            del text

    for d in log:
        summary.defects[d.kind] += 1
    _write_synth_folder(out_dir / SYNTH_FOLDER, config, months_labels, manifest_files, summary, log)
    summary.elapsed_seconds = time.perf_counter() - started
    return summary


def _write_synth_folder(folder: Path, config: SynthConfig, months: list[str], files: dict[str, int],
                        summary: SynthSummary, log: list[defects_mod.Defect]) -> None:
    """The manifest (config, rows per file) and the defect log; no timings, so bytes stay stable."""
    manifest = {
        "generator": "pipelines.tools.synth",
        "seed": config.seed,
        "config": config.to_dict(),
        "months": months,
        "files": files,
        "rows": summary.rows,
        "defects": summary.defects,
    }
    writer.write_atomic(folder / SYNTHETIC_MANIFEST.name,
                        (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    frame = pl.DataFrame([d.to_dict() for d in log], schema={
        c: (pl.Int64 if c in ("line", "row") else pl.String) for c in defects_mod.LOG_COLUMNS
    }, orient="row")
    writer.write_atomic(folder / "defects.csv", writer.csv_bytes(frame))
