"""`outcomes`: the one command-line entry point (synth, run, ui, contract).

Folder flags (--landing, --warehouse, --reports) override the OUTCOMES_* environment
variables, which override the project's own folders. Runs go to the project's Dagster
instance (dagster_home/) unless DAGSTER_HOME is set, so the UI shows them later.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from pipelines import contract
from pipelines.settings import Settings, export_to_environment, load_settings


def _add_folder_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("folders (flag > environment variable > project folder)")
    group.add_argument("--landing", help="landing folder with <export>/<export>_<YYYY-MM>.csv "
                       "(env OUTCOMES_LANDING, default ./landing)")
    group.add_argument("--warehouse", help="folder of the DuckDB files (env OUTCOMES_WAREHOUSE, "
                       "default ./warehouse)")
    group.add_argument("--reports", help="folder of rendered reports (env OUTCOMES_REPORTS, "
                       "default ./reports)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.landing, args.warehouse, args.reports)
    export_to_environment(settings)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return settings


SCALE_CHOICES = ("small", "medium", "large", "xl")  # pipelines.synth.SCALES (kept lazy: numpy/polars)


def add_network_arguments(parser: argparse.ArgumentParser, default_scale: str) -> None:
    """The generator's size flags: a preset and explicit overrides (`outcomes synth`, the benchmark)."""
    parser.add_argument("--scale", choices=SCALE_CHOICES, default=default_scale,
                        help=f"size preset (default {default_scale}; small: seconds; large: ~30M vitals)")
    parser.add_argument("--sites", type=int, help="number of sites (overrides the preset)")
    parser.add_argument("--patients", type=int, help="patients enrolled over the period")
    parser.add_argument("--months", type=int, help="number of export months")
    parser.add_argument("--start-month", help="first export month, YYYY-MM")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same bytes)")
    parser.add_argument("--defect-rate", type=float,
                        help="probability per row of an injected defect (logged in _synth/defects.csv)")
    parser.add_argument("--format", choices=["csv", "csv.gz", "parquet"], help="file format")


def network_config(args: argparse.Namespace):  # -> SynthConfig (import kept lazy: numpy/polars)
    """The preset of --scale with the size flags given (see add_network_arguments)."""
    from pipelines.synth import SCALES

    overrides = {
        "sites": args.sites, "patients": args.patients, "months": args.months,
        "start_month": args.start_month, "seed": args.seed, "defect_rate": args.defect_rate,
        "file_format": args.format,
    }
    return dataclasses.replace(SCALES[args.scale], **{k: v for k, v in overrides.items() if v is not None})


def cmd_synth(args: argparse.Namespace) -> int:
    """Write a synthetic clinic network's exports into the landing folder."""
    from pipelines.synth import generate

    settings = _settings(args)
    out = Path(args.out).resolve() if args.out else settings.landing
    config = network_config(args)
    progress = not args.no_progress and sys.stderr.isatty()
    summary = generate(out, config, progress=progress)
    rows = summary.to_dict()["rows"]
    print(f"wrote {len(summary.files)} files to {out} in {summary.elapsed_seconds:.1f} s "
          f"({summary.rows_per_second:,.0f} rows/s)")
    for name in contract.EXPORTS:
        print(f"  {name:<15} {rows[name]:>12,} rows")
    if config.defect_rate:
        print(f"  injected defects: {sum(summary.defects.values()):,} "
              f"(log: {out / '_synth' / 'defects.csv'})")
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    return 0


def _landing_is_empty(settings: Settings) -> bool:
    from pipelines.ingest.discover import discover

    return not discover(settings.landing).files


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize every asset for all months found in the landing folder."""
    settings = _settings(args)
    if _landing_is_empty(settings):
        if args.no_synth:
            print(f"error: no export files in {settings.landing}", file=sys.stderr)
            return 2
        from pipelines.synth import SCALES, generate

        print(f"landing folder {settings.landing} has no exports: generating the small synthetic "
              "network (seed 1)")
        generate(settings.landing, SCALES["small"], progress=False)

    from pipelines.ingest.discover import discover
    from pipelines.run import run_main_job

    found = discover(settings.landing)
    if found.conflicts:
        for conflict in found.conflicts:
            print(f"error: more than one file for {conflict}", file=sys.stderr)
        return 2
    for path in found.ignored:
        print(f"warning: ignored {path} (not named <export>_<YYYY-MM>.csv|.csv.gz|.parquet)")
    months = found.months
    print(f"landing: {settings.landing} ({len(found.files)} files, months {months[0]} .. {months[-1]})")
    started = time.perf_counter()
    summary = run_main_job(settings, months)
    print(summary.render(time.perf_counter() - started))
    return 0 if summary.success else 1


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI on 127.0.0.1 with the project's instance."""
    _settings(args)
    command = [
        str(Path(sys.executable).with_name("dagster")), "dev", "-m", "pipelines.definitions",
        "-h", "127.0.0.1", "-p", str(args.port),
    ]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']}); "
          "Ctrl-C stops it")
    return subprocess.call(command)


def cmd_contract(args: argparse.Namespace) -> int:
    """Print the export contract as Markdown (the source of docs/export-contract.md)."""
    from pipelines.contract_doc import render_markdown

    text = render_markdown()
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outcomes",
        description="Outcomes warehouse for ketamine/esketamine PTSD clinics: generate exports, "
        "run the pipeline, open the Dagster UI.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = sub.add_parser("synth", help="generate a synthetic clinic network's exports",
                           description=cmd_synth.__doc__ + " Deterministic by seed.")
    add_network_arguments(synth, default_scale="small")
    synth.add_argument("--out", help="output folder (default: the landing folder)")
    synth.add_argument("--no-progress", action="store_true", help="no progress bar")
    synth.add_argument("--json", action="store_true", help="also print the summary as JSON")
    _add_folder_flags(synth)
    synth.set_defaults(func=cmd_synth)

    run = sub.add_parser("run", help="materialize everything for the months in the landing folder",
                         description=cmd_run.__doc__ + " Generates the small synthetic network "
                         "first when the landing folder has no exports.")
    run.add_argument("--no-synth", action="store_true",
                     help="fail instead of generating sample exports when landing is empty")
    _add_folder_flags(run)
    run.set_defaults(func=cmd_run)

    ui = sub.add_parser("ui", help="start the Dagster UI on 127.0.0.1", description=cmd_ui.__doc__)
    ui.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    _add_folder_flags(ui)
    ui.set_defaults(func=cmd_ui)

    doc = sub.add_parser("contract", help="print the export contract as Markdown",
                         description=cmd_contract.__doc__)
    doc.add_argument("--write", metavar="PATH", help="write to PATH instead of printing")
    doc.set_defaults(func=cmd_contract)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster flags beta parameters (backfill_policy) on every load; not news to a CLI user.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
