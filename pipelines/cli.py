"""`outcomes`: the one command-line entry point (synth, run, ui, contract).

Folder flags (--landing, --warehouse, --reports) override the OUTCOMES_* environment
variables, which override the project's own folders. Runs go to the project's Dagster
instance (dagster_home/) unless DAGSTER_HOME is set, so the UI shows them later.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from pipelines import contract
from pipelines.ingest.discover import Discovery, discover, is_synthetic
from pipelines.settings import (
    ENGINES,
    ENV_DAGSTER_HOME,
    ENV_ENGINE,
    ENV_LANDING,
    Settings,
    SettingsError,
    check_settings,
    load_settings,
)
from pipelines.writer_lock import LockTimeout


class UserError(SettingsError):
    """A mistake in what the user asked for: reported as one line, exit 2, no traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that answers a bad flag in one line (`outcomes run: error: ...`), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`, named in the one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is not allowed: at least {minimum}")
        return value

    return parse


def month(text: str) -> str:
    if not contract.MONTH_RE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: expected YYYY-MM, e.g. 2025-01")
    return text


def defect_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: a probability from 0 to 0.5")
    return value


def _add_folder_flags(parser: argparse.ArgumentParser, landing: bool = True) -> None:
    group = parser.add_argument_group("folders (flag > environment variable > project folder)")
    if landing:
        group.add_argument("--landing", help="landing folder with <export>/<export>_<YYYY-MM>.csv "
                           "(env OUTCOMES_LANDING, default ./landing)")
    group.add_argument("--warehouse", help="folder of the DuckDB files (env OUTCOMES_WAREHOUSE, "
                       "default ./warehouse)")
    group.add_argument("--reports", help="folder of rendered reports (env OUTCOMES_REPORTS, "
                       "default ./reports)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "landing", None), getattr(args, "warehouse", None),
                             getattr(args, "reports", None))
    check_settings(settings)
    os.environ.setdefault(ENV_DAGSTER_HOME, str(settings.dagster_home))
    home = Path(os.environ[ENV_DAGSTER_HOME])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # the project's instance settings (no telemetry banner)
        shutil.copyfile(settings.dagster_home / "dagster.yaml", home / "dagster.yaml")
    return settings


SCALE_CHOICES = ("small", "medium", "large", "xl")  # pipelines.tools.synth.SCALES (kept lazy: numpy/polars)


def add_network_arguments(parser: argparse.ArgumentParser, default_scale: str) -> None:
    """The generator's size flags: a preset and explicit overrides (`outcomes synth`, the benchmark)."""
    parser.add_argument("--scale", choices=SCALE_CHOICES, default=default_scale,
                        help=f"size preset (default {default_scale}; small: seconds; large: ~30M vitals)")
    parser.add_argument("--sites", type=whole_number(1), help="number of sites (overrides the preset)")
    parser.add_argument("--patients", type=whole_number(1), help="patients enrolled over the period")
    parser.add_argument("--months", type=whole_number(1), help="number of export months")
    parser.add_argument("--start-month", type=month, help="first export month, YYYY-MM")
    parser.add_argument("--seed", type=whole_number(0), help="random seed (same seed, same bytes)")
    parser.add_argument("--defect-rate", type=defect_rate,
                        help="probability per row of an injected defect, 0 to 0.5 (logged in "
                        "_synth/defects.csv)")
    parser.add_argument("--format", choices=["csv", "csv.gz", "parquet"], help="file format")


def network_config(args: argparse.Namespace):  # -> SynthConfig (import kept lazy: numpy/polars)
    """The preset of --scale with the size flags given (see add_network_arguments)."""
    from pipelines.tools.synth import SCALES

    overrides = {
        "sites": args.sites, "patients": args.patients, "months": args.months,
        "start_month": args.start_month, "seed": args.seed, "defect_rate": args.defect_rate,
        "file_format": args.format,
    }
    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(SCALES[args.scale], **given)
    except ValueError as problem:  # SynthConfig's own checks, for combinations the flags cannot see
        raise UserError(str(problem)) from None


def cmd_synth(args: argparse.Namespace) -> int:
    """Write a synthetic clinic network's exports into the landing folder."""
    from pipelines.tools.synth import generate

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


def _landing_source(args: argparse.Namespace) -> str:
    """Where the landing folder came from, for error messages."""
    if args.landing is not None:
        return "--landing"
    return ENV_LANDING if os.environ.get(ENV_LANDING) else "the default ./landing"


def _prepare_landing(args: argparse.Namespace, settings: Settings) -> Discovery:
    """Check the landing folder (and fill it for --demo); what it holds, or a UserError.

    Synthetic exports are written only when asked (--demo): a mistyped --landing must fail,
    never turn into a generated network published over the real one. Nothing is created on
    an error. The folder is scanned once (twice when --demo has just filled it).
    """
    landing = settings.landing
    if landing.exists() and not landing.is_dir():
        raise UserError(f"landing folder {landing} ({_landing_source(args)}) is not a folder")
    found = discover(landing) if landing.is_dir() else Discovery((), (), ())
    if not args.demo:
        if not landing.exists():
            raise UserError(f"landing folder {landing} ({_landing_source(args)}) does not exist; deliver "
                            "exports there, or run `outcomes run --demo` for the synthetic demo network")
        if not found.files:
            raise UserError(f"no exports in {landing} ({_landing_source(args)}): expected "
                            "<export>/<export>_<YYYY-MM>.csv|.csv.gz|.parquet; `outcomes run --demo` builds "
                            "the synthetic demo network instead")
        return found
    if found.files and not is_synthetic(landing):
        raise UserError(f"--demo writes the synthetic demo network into {landing}, which holds exports that "
                        "were not generated: pass an empty or new --landing for the demo")
    if found.files:
        print(f"DEMO: using the synthetic demo network already in {landing}")
        return found
    from pipelines.tools.synth import SCALES, generate

    demo = SCALES["small"]
    print(f"DEMO: generating the synthetic demo network in {landing} ({demo.sites} sites, "
          f"{demo.patients:,} patients, {demo.months} months from {demo.start_month}, seed {demo.seed}); "
          "every output of this build is marked synthetic")
    generate(landing, demo, progress=False)
    return discover(landing)


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize every asset for all months found in the landing folder."""
    if args.engine:  # the run's steps (and dbt) read it from the environment
        os.environ[ENV_ENGINE] = args.engine
    settings = load_settings(args.landing, args.warehouse, args.reports)
    check_settings(settings)
    found = _prepare_landing(args, settings)
    settings = _settings(args)

    from pipelines.partitions import future_months
    from pipelines.run import run_main_job

    if found.conflicts:
        for conflict in found.conflicts:
            print(f"error: more than one file for {conflict}", file=sys.stderr)
        return 2
    for path in found.ignored:
        print(f"warning: ignored {path} (not named <export>_<YYYY-MM>.csv|.csv.gz|.parquet)")
    for problem in found.unreadable:
        print(f"warning: skipped {problem}")
    months = found.months
    if args.months:
        first, last = args.months
        months = [m for m in months if first <= m <= last]
        if not months:
            raise UserError(f"--months {first}..{last}: the landing folder has no exports in that range "
                            f"(it has {found.months[0]} .. {found.months[-1]})")
    # A month after the current one stops the run before anything is loaded (one line).
    months, problems = future_months(months)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"landing: {settings.landing} ({len(found.files)} files, months {months[0]} .. {months[-1]})")
    started = time.perf_counter()
    summary = run_main_job(settings, months, progress=None if args.quiet else sys.stdout)
    print(summary.render(time.perf_counter() - started))
    return 0 if summary.success else 1


def cmd_report(args: argparse.Namespace) -> int:
    """Render one month's report (HTML and PDF) on demand from the published warehouse."""
    from pipelines.publish.report.asset import built_months, write_reports
    from pipelines.publish.warehouse import PUBLISHED_NAME

    settings = _settings(args)
    published = settings.warehouse / PUBLISHED_NAME
    if not published.is_file():
        raise UserError(f"no published warehouse at {published}: `outcomes run` builds and publishes one")

    built = built_months(published)
    if args.month not in built:
        raise UserError(f"--month {args.month}: the published build holds {built[0]} .. {built[-1]}"
                        if built else f"--month {args.month}: the published build holds no months")
    for done in write_reports(published, settings.reports, [args.month]):
        print(f"wrote {done.html_path} and {done.pdf_path.name} "
              f"({done.pdf_pages} pages, {done.edition.name} edition)")
    return 0


def cmd_retract(args: argparse.Namespace) -> int:
    """Take one export month out of the build (kept in the warehouse's history), then run the month so
    the marts, the published build and the month's report no longer hold it."""
    from pipelines.history.retract import record_retraction
    from pipelines.run import run_main_job

    settings = _settings(args)
    done = record_retraction(settings, args.export, args.month, args.reason)
    what = done.source_file or f"{args.export} {args.month} (no current file)"
    print(f"retracted {what} at {done.retracted_at:%Y-%m-%d %H:%M:%S} UTC; a later delivery of the month "
          "undoes it. Running the month:")
    started = time.perf_counter()
    summary = run_main_job(settings, [args.month], progress=None if args.quiet else sys.stdout,
                           trigger="outcomes retract")
    print(summary.render(time.perf_counter() - started))
    return 0 if summary.success else 1


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Rebuild a past build from the file versions the warehouse kept, into a new folder."""
    from pipelines.history.reproduce import builds, reproduce

    settings = _settings(args)
    if args.list or not args.build:
        listed = builds(settings)
        if not listed:
            print(f"no builds recorded in {settings.build_db}")
        for build_id, built_at, months in listed:
            span = f"{months[0]} .. {months[-1]}" if months else "no months"
            print(f"{build_id}  {built_at} UTC  {span}")
        if not args.list:
            raise UserError("--build is required (the list above shows the latest builds)")
        return 0
    if not args.out:
        raise UserError("--out is required: an empty folder for the reproduced warehouse")
    started = time.perf_counter()
    summary = reproduce(settings, args.build, Path(args.out), progress=None if args.quiet else sys.stdout)
    print(summary.render(time.perf_counter() - started))
    return 0 if summary.success else 1


def month_range(text: str) -> tuple[str, str]:
    """YYYY-MM..YYYY-MM (or one month), both inclusive."""
    first, _, last = text.partition("..")
    last = last or first
    for value in (first, last):
        month(value)
    if first > last:
        raise argparse.ArgumentTypeError(f"{text!r}: the first month comes after the last")
    return first, last


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Dagster UI on 127.0.0.1 with the project's instance."""
    from pipelines.code_location import DEFINITIONS_MODULE

    settings = _settings(args)
    from dagster import DagsterInstance

    from pipelines.run import fail_orphaned_runs

    with DagsterInstance.get() as instance:  # a killed `outcomes run` would hold the run queue for ever
        for run_id in fail_orphaned_runs(instance):
            print(f"marked run {run_id} failed: its outcomes run process is gone")
    command = [
        str(Path(sys.executable).with_name("dagster")), "dev", "-m", DEFINITIONS_MODULE,
        "-h", "127.0.0.1", "-p", str(args.port),
    ]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']}); "
          "Ctrl-C stops it")
    warnings_ignored = filter(None, [os.environ.get("PYTHONWARNINGS"), *UI_WARNINGS_IGNORED])
    # the UI's code server learns this command's folders from its environment (pipelines/settings.py)
    env = {**os.environ, **settings.environment(), "PYTHONWARNINGS": ",".join(warnings_ignored)}
    return run_until_stopped(command, env)


# `dagster dev` says "use dg dev" (dg is not part of this project's stack); the webserver and code
# server repeat that BackfillPolicy is beta (main() hides it in this process too).
UI_WARNINGS_IGNORED = ("ignore:Function `dev_command` is superseded",
                       "ignore:Parameter `backfill_policy` of function `asset` is currently in beta")
STOP_GRACE_SECONDS = 30


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run `dagster dev` until it ends or this process is told to stop, then stop it and its children.

    `dagster dev` shuts its webserver, daemon and code server down on SIGTERM or SIGINT, but
    nothing forwarded a SIGTERM sent to `outcomes ui` (a service manager's stop): they outlived
    it. It is told to stop on either signal, and dies with this process (PR_SET_PDEATHSIG) if
    this one is killed outright; a group that does not stop in STOP_GRACE_SECONDS is killed.
    """
    proc = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=_die_with_parent)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    deadline: float | None = None
    try:
        while (code := proc.poll()) is None:
            if stopping and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else code


def _die_with_parent() -> None:
    """In the child, before exec: default SIGINT and SIGTERM handling, and SIGTERM when the parent dies.

    Dagster maps SIGTERM to its SIGINT handler; started from a shell's background job, SIGINT is
    inherited as ignored, and SIGTERM with it: `dagster dev` would then never stop. PR_SET_PDEATHSIG
    is Linux's; elsewhere the parent's forwarding alone stops it.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cmd_contract(args: argparse.Namespace) -> int:
    """Print the export contract as Markdown (the source of docs/export-contract.md)."""
    from pipelines.contract_doc import render_markdown

    text = render_markdown()
    if args.write:
        target = Path(args.write)
        if not target.parent.is_dir():
            raise UserError(f"--write: folder {target.parent} does not exist")
        if target.is_dir():
            raise UserError(f"--write: {target} is a folder; give a file path")
        target.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


def _command(sub: argparse._SubParsersAction, func: Callable[[argparse.Namespace], int], summary: str,
             more: str, *examples: str) -> argparse.ArgumentParser:
    """One subcommand: its name from the function (cmd_<name>), its description from the function's
    docstring and `more`, and the examples every `outcomes <command> --help` ends with."""
    parser = sub.add_parser(func.__name__.removeprefix("cmd_"), help=summary, description=func.__doc__ + more,
                            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="outcomes",
        description="Outcomes warehouse for ketamine/esketamine PTSD clinics: generate exports, "
        "run the pipeline, open the Dagster UI.",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = _command(sub, cmd_synth, "generate a synthetic clinic network's exports",
                     " Deterministic by seed.",
                     "outcomes synth --scale small --seed 1 --out /tmp/demo_landing",
                     "outcomes synth --sites 5 --patients 30 --months 13 --defect-rate 0.02 --out /tmp/small")
    add_network_arguments(synth, default_scale="small")
    synth.add_argument("--out", help="output folder (default: the landing folder)")
    synth.add_argument("--no-progress", action="store_true", help="no progress bar")
    synth.add_argument("--json", action="store_true", help="also print the summary as JSON")
    synth.add_argument("--landing", help="landing folder to write into when --out is not given "
                       "(env OUTCOMES_LANDING, default ./landing)")

    run = _command(sub, cmd_run, "materialize everything for the months in the landing folder",
                   " A landing folder that does not exist or holds no exports is an error (exit 2); --demo "
                   "builds the synthetic demo network.",
                   "outcomes run --landing /data/exports",
                   "outcomes run --landing /data/exports --months 2025-10..2025-12",
                   "outcomes run --demo --landing /tmp/demo_landing --warehouse /tmp/demo_warehouse")
    run.add_argument("--months", type=month_range, metavar="YYYY-MM..YYYY-MM",
                     help="only the landing months in this range (both inclusive; one month alone works)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress lines while the run works (for cron): only the summary")
    run.add_argument("--demo", action="store_true",
                     help="generate the synthetic demo network into the landing folder when it holds no "
                     "exports (refused when it holds real ones) and run on it; the build, its summary "
                     "and its reports are marked synthetic")
    run.add_argument("--engine", choices=ENGINES,
                     help="the engine dbt builds the models on (env OUTCOMES_ENGINE, default duckdb); spark "
                     "needs Java 17 (docs/scale-out.md). Either way the published file is DuckDB")
    _add_folder_flags(run)

    ui = _command(sub, cmd_ui, "start the Dagster UI on 127.0.0.1", "",
                  "outcomes ui", "outcomes ui --port 3001 --warehouse /data/warehouse")
    ui.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    _add_folder_flags(ui)

    doc = _command(sub, cmd_contract, "print the export contract as Markdown", "",
                   "outcomes contract | less", "outcomes contract --write docs/export-contract.md")
    doc.add_argument("--write", metavar="PATH", help="write to PATH instead of printing")

    retract = _command(
        sub, cmd_retract, "take one export month out of the build, with an audit row",
        " The rows stay in the warehouse's history; a later delivery of the month (other bytes, or the "
        "file written into landing again) undoes the retraction.",
        "outcomes retract --month 2025-03 --export vitals --reason \"clinic withdrew the file: wrong "
        "site's monitor\"")
    retract.add_argument("--month", type=month, required=True, metavar="YYYY-MM", help="the export month")
    retract.add_argument("--export", required=True, choices=contract.EXPORTS, help="the export")
    retract.add_argument("--reason", required=True,
                         help="why (kept and published in data_quality.retractions: no identifiers)")
    retract.add_argument("--quiet", action="store_true", help="no progress lines: only the summary")
    _add_folder_flags(retract)

    reproduce = _command(
        sub, cmd_reproduce, "rebuild a past build from the kept file versions into a new folder",
        " The new folder gets the build's warehouse (outcomes.duckdb, meta.build.reproduces naming the "
        "original) and reports; run with the same code and settings.",
        "outcomes reproduce --list", "outcomes reproduce --build 3f2c9a1e-... --out /tmp/build_2025_06")
    reproduce.add_argument("--build", metavar="BUILD_ID", help="the build id (meta.build.build_id)")
    reproduce.add_argument("--out", metavar="DIR", help="an empty folder for the reproduced warehouse")
    reproduce.add_argument("--list", action="store_true", help="list the latest builds and stop")
    reproduce.add_argument("--quiet", action="store_true", help="no progress lines: only the summary")
    _add_folder_flags(reproduce, landing=False)

    report = _command(sub, cmd_report, "render one month's report from the published warehouse", "",
                      "outcomes report --month 2025-12",
                      "outcomes report --month 2025-06 --warehouse /data/warehouse --reports /tmp/r")
    report.add_argument("--month", type=month, required=True, metavar="YYYY-MM", help="the report month")
    _add_folder_flags(report, landing=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster flags beta parameters (backfill_policy) on every load; not news to a CLI user.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as problem:  # a user's mistake (UserError included): one line, exit 2
        if args.debug:
            raise
        print(f"{build_parser().prog} {args.command}: error: {problem}", file=sys.stderr)
        return 2
    except LockTimeout as problem:  # another writer held the warehouse for longer than the timeout
        print(f"{build_parser().prog} {args.command}: error: {problem}", file=sys.stderr)
        return 1
    except Exception as problem:  # a bug or the machine, not the user: still one line unless --debug
        if args.debug:
            raise
        first_line = str(problem).splitlines()[0] if str(problem) else ""
        print(f"{build_parser().prog} {args.command}: internal error: {type(problem).__name__}: {first_line} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
