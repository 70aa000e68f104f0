"""Where things live: landing, warehouse and reports folders, from flags, environment or defaults.

Precedence: explicit argument (CLI flag) > environment variable > the project's own folder.
Folders travel one way (issue #17, item 3): resolved once into a `Settings`; handed to a process
that loads the code location (run_main_job's in-process location, `dagster dev`, dbt's
profiles.yml) as the environment `Settings.environment()` names; inside Dagster, read by
`build_definitions` and carried to every asset by one resource (`pipelines.resources.Folders`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import contract

PROJECT_ROOT = Path(__file__).resolve().parents[1]

ENV_LANDING = "OUTCOMES_LANDING"
ENV_WAREHOUSE = "OUTCOMES_WAREHOUSE"
ENV_REPORTS = "OUTCOMES_REPORTS"
ENV_MEMORY_LIMIT = "OUTCOMES_MEMORY_LIMIT"  # every DuckDB connection's cap (pipeline, GX, dbt; sql.py)
DEFAULT_MEMORY_LIMIT = "2GB"
RENAMED = {"OUTCOMES_GX_MEMORY_LIMIT": ENV_MEMORY_LIMIT}  # an old name is refused, never ignored
ENV_ID_PATTERNS = "OUTCOMES_ID_PATTERNS"  # a JSON file {id column: regular expression} for this network
ENV_TIMEZONE = "OUTCOMES_TIMEZONE"  # the clinics' IANA time zone: Parquet times with a zone become local
ENV_DAGSTER_HOME = "DAGSTER_HOME"
# The DuckDB storage format of the published outcomes.duckdb: the oldest DuckDB release whose format
# holds everything the marts use, so that quality teams' DuckDB 1.x clients (CLI, Python, R, DBeaver)
# open it; DuckDB 2.0 writes a format 1.x cannot read unless asked (docs/querying.md).
ENV_PUBLISH_STORAGE_VERSION = "OUTCOMES_PUBLISH_STORAGE_VERSION"
DEFAULT_PUBLISH_STORAGE_VERSION = "v1.0.0"
STORAGE_VERSION_RE = re.compile(r"^(latest|v\d{1,2}\.\d{1,2}\.\d{1,2})$")
# The engine dbt builds the models on: duckdb (the default, in the build file) or spark
# (docs/scale-out.md); with spark, OUTCOMES_SPARK_TARGET names the dbt target (spark: a local
# Spark in dbt's process; cluster: a Spark Thrift Server) and OUTCOMES_SPARK_TABLES where its
# tables' Parquet files are read back (default <warehouse>/spark/tables, the local target's).
ENV_ENGINE = "OUTCOMES_ENGINE"
ENGINES = ("duckdb", "spark")
ENV_SPARK_TARGET = "OUTCOMES_SPARK_TARGET"
SPARK_TARGETS = ("spark", "cluster")
ENV_SPARK_TABLES = "OUTCOMES_SPARK_TABLES"
ENV_LOCK_TIMEOUT = "OUTCOMES_LOCK_TIMEOUT"  # seconds a writer waits for the warehouse (writer_lock.py)
DEFAULT_LOCK_TIMEOUT_SECONDS = 3600.0
# Delivery integrity (issue #13), shares from 0 to 1 (docs/ingest-and-validation.md):
ENV_MAX_QUARANTINED_SHARE = "OUTCOMES_MAX_QUARANTINED_SHARE"  # above it, a file stops the run before publish
ENV_REDELIVERY_MIN_SHARE = "OUTCOMES_REDELIVERY_MIN_SHARE"  # a re-delivery below it of the version it follows
ENV_NEW_MONTH_MIN_SHARE = "OUTCOMES_NEW_MONTH_MIN_SHARE"  # a first delivery below it of the previous median
SHARE_DEFAULTS = {ENV_MAX_QUARANTINED_SHARE: 0.05, ENV_REDELIVERY_MIN_SHARE: 0.8,
                  ENV_NEW_MONTH_MIN_SHARE: 0.25}

SIZE_RE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)$", re.IGNORECASE)  # DuckDB sizes


class SettingsError(ValueError):
    """A folder or environment setting a person got wrong: its message is one line naming it."""



@dataclass(frozen=True)
class Settings:
    """Resolved folders for one process."""

    landing: Path
    warehouse: Path
    reports: Path

    @property
    def build_db(self) -> Path:
        """The DuckDB file the pipeline writes (one writer at a time)."""
        return self.warehouse / "build.duckdb"

    @property
    def dagster_home(self) -> Path:
        return PROJECT_ROOT / "dagster_home"

    def environment(self) -> dict[str, str]:
        """The folders as the environment variables a child process reads them from."""
        return {ENV_LANDING: str(self.landing), ENV_WAREHOUSE: str(self.warehouse),
                ENV_REPORTS: str(self.reports)}


def _pick(flag: str | Path | None, env: str, default: Path) -> Path:
    value = flag if flag is not None else os.environ.get(env) or default
    return Path(value).expanduser().resolve()


def load_settings(
    landing: str | Path | None = None,
    warehouse: str | Path | None = None,
    reports: str | Path | None = None,
) -> Settings:
    """Resolve the folders; nothing is created here."""
    return Settings(
        landing=_pick(landing, ENV_LANDING, PROJECT_ROOT / "landing"),
        warehouse=_pick(warehouse, ENV_WAREHOUSE, PROJECT_ROOT / "warehouse"),
        reports=_pick(reports, ENV_REPORTS, PROJECT_ROOT / "reports"),
    )


def export_to_environment(settings: Settings) -> None:
    """Make the folders those of code this process loads next (the code location, dbt): called only
    where a run is started in this process (pipelines.run)."""
    os.environ.update(settings.environment())


def id_patterns() -> dict[str, str]:
    """Each id column's shape for this network: the contract's defaults, overridden by the JSON
    file OUTCOMES_ID_PATTERNS names. A pattern must match the whole (trimmed) value, and the
    value must also be a SAFE_ID (contract.py) whatever the pattern says.
    """
    patterns = dict(contract.DEFAULT_ID_PATTERNS)
    path = os.environ.get(ENV_ID_PATTERNS)
    if not path:
        return patterns
    where = f"{ENV_ID_PATTERNS}={path!r}"
    try:
        given = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as problem:
        raise SettingsError(f"{where}: cannot be read ({type(problem).__name__})") from None
    except json.JSONDecodeError as problem:
        raise SettingsError(f"{where}: not JSON (line {problem.lineno}, column {problem.colno})") from None
    if not isinstance(given, dict):
        raise SettingsError(f"{where}: expected a JSON object {{id column: regular expression}}")
    for column, pattern in given.items():
        if column not in patterns:
            raise SettingsError(f"{where}: {column!r} is not an id column; expected one of "
                                + ", ".join(sorted(patterns)))
        if not isinstance(pattern, str) or not pattern:
            raise SettingsError(f"{where}: the pattern for {column} must be a non-empty string")
        try:
            re.compile(pattern)
            duckdb.sql("SELECT regexp_full_match('', $p)", params={"p": pattern}).fetchall()
        except (re.error, duckdb.Error):
            raise SettingsError(f"{where}: the pattern for {column} is not a valid regular expression") \
                from None
        patterns[column] = pattern
    return patterns


def clinic_timezone() -> str | None:
    """The network's IANA time zone (OUTCOMES_TIMEZONE), or None when not set.

    Exports carry local times; a Parquet column of times with a zone (TIMESTAMP WITH TIME ZONE)
    is converted to this zone's local time. Unset, such a file is rejected rather than guessed."""
    value = os.environ.get(ENV_TIMEZONE, "").strip()
    if not value:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{ENV_TIMEZONE}={value!r} is not a time zone: expected an IANA name such as "
                            "America/Chicago or Europe/Berlin") from None
    return value


def share(name: str) -> float:
    """One of the delivery-integrity shares (SHARE_DEFAULTS), from its environment variable or default."""
    value = os.environ.get(name, "").strip()
    if not value:
        return SHARE_DEFAULTS[name]
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise SettingsError(f"{name}={value!r} is not a share: expected a number from 0 to 1, e.g. "
                            f"{SHARE_DEFAULTS[name]}")
    return number


def lock_timeout() -> float:
    """OUTCOMES_LOCK_TIMEOUT: seconds a writer waits for another to finish (0: do not wait)."""
    value = os.environ.get(ENV_LOCK_TIMEOUT, "").strip()
    if not value:
        return DEFAULT_LOCK_TIMEOUT_SECONDS
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number < float("inf"):
        raise SettingsError(f"{ENV_LOCK_TIMEOUT}={value!r} is not a number of seconds: expected 0 or more, "
                            f"e.g. {DEFAULT_LOCK_TIMEOUT_SECONDS:.0f}")
    return number


def memory_limit() -> str:
    """The memory cap of every DuckDB connection the pipeline opens (OUTCOMES_MEMORY_LIMIT, DuckDB's
    size syntax, default 2GB): above it DuckDB spills to the warehouse's `.spill` folder instead of
    growing (pipelines/sql.py). The machine's other work keeps its memory."""
    for old, new in RENAMED.items():
        if old in os.environ:
            raise SettingsError(f"{old} was renamed {new} (it caps every DuckDB connection, not only GX's)")
    value = os.environ.get(ENV_MEMORY_LIMIT, "").strip() or DEFAULT_MEMORY_LIMIT
    if not SIZE_RE.match(value):
        raise SettingsError(f"{ENV_MEMORY_LIMIT}={value!r} is not a size: expected a number and a unit "
                            "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 2GB")
    return value


def engine() -> str:
    """OUTCOMES_ENGINE: duckdb (default) or spark, the engine the dbt models are built on."""
    value = os.environ.get(ENV_ENGINE, "").strip().lower() or ENGINES[0]
    if value not in ENGINES:
        raise SettingsError(f"{ENV_ENGINE}={value!r} is not an engine: expected {' or '.join(ENGINES)}")
    return value


def spark_target() -> str:
    """OUTCOMES_SPARK_TARGET: the dbt target of a Spark build (dbt/profiles.yml), default spark."""
    value = os.environ.get(ENV_SPARK_TARGET, "").strip() or SPARK_TARGETS[0]
    if value not in SPARK_TARGETS:
        raise SettingsError(f"{ENV_SPARK_TARGET}={value!r} is not a Spark target of dbt/profiles.yml: "
                            f"expected {' or '.join(SPARK_TARGETS)}")
    return value


def spark_available() -> None:
    """A Spark build needs pyspark (a dependency of the project) and Java 17 or later: say so
    before the run starts, not from inside dbt."""
    if importlib.util.find_spec("pyspark") is None:
        raise SettingsError(f"{ENV_ENGINE}=spark needs pyspark: run ./dev setup (it installs the project's "
                            "dependencies)")
    java = shutil.which("java")
    found = subprocess.run([java, "-version"], capture_output=True, text=True,
                           check=False).stderr if java else ""
    major = re.search(r'version "(\d+)', found)
    if not major or int(major.group(1)) < 17:
        raise SettingsError(f"{ENV_ENGINE}=spark needs Java 17 or later on the PATH: ./dev setup installs "
                            "Debian's openjdk-17-jre-headless")


def spark_tables(warehouse: Path) -> Path:
    """Where a Spark build's tables are read back from (OUTCOMES_SPARK_TABLES, default the local
    target's folder <warehouse>/spark/tables, as dbt/profiles.yml sets it)."""
    value = os.environ.get(ENV_SPARK_TABLES, "").strip()
    return Path(value).expanduser() if value else Path(warehouse) / "spark" / "tables"


def publish_storage_version() -> str:
    """OUTCOMES_PUBLISH_STORAGE_VERSION: the DuckDB release whose storage format the published file
    is written in (default v1.0.0: DuckDB 1.0 and every later release read it; `latest` for this
    DuckDB's own). Checked against DuckDB's list of versions."""
    from pipelines.sql import storage_version_known  # sql imports this module

    value = os.environ.get(ENV_PUBLISH_STORAGE_VERSION, "").strip() or DEFAULT_PUBLISH_STORAGE_VERSION
    if not (STORAGE_VERSION_RE.match(value) and storage_version_known(value)):
        raise SettingsError(f"{ENV_PUBLISH_STORAGE_VERSION}={value!r} is not a DuckDB version this DuckDB "
                            f"can write: expected e.g. {DEFAULT_PUBLISH_STORAGE_VERSION} or latest")
    return value


def check_settings(settings: Settings) -> None:
    """Fail with one line on a folder or environment setting that cannot work, before anything runs."""
    for name, flag, env in (("warehouse", "--warehouse", ENV_WAREHOUSE),
                            ("reports", "--reports", ENV_REPORTS)):
        folder: Path = getattr(settings, name)
        if folder.exists() and not folder.is_dir():
            raise SettingsError(f"{flag} / {env}: {folder} is a file; the {name} must be a folder")
    # DuckDB and Spark SQL name the build file, the staging lake and Spark's tables by path inside
    # quoted SQL (dbt/models/sources.yml, dbt/macros/lake_sources.sql, the lake's COPY, publish's
    # ATTACH): a quote or a backslash in the path would end or escape those strings.
    if any(char in str(settings.warehouse) for char in "'`\\"):
        raise SettingsError(f"--warehouse / {ENV_WAREHOUSE}: {settings.warehouse} contains a quote or a "
                            "backslash; choose a folder without them (DuckDB and Spark SQL name its files)")
    id_patterns()
    clinic_timezone()
    for name in SHARE_DEFAULTS:
        share(name)
    lock_timeout()
    memory_limit()
    publish_storage_version()
    if engine() == "spark":
        spark_target()
        spark_available()
    home = os.environ.get(ENV_DAGSTER_HOME)
    if home is not None:
        path = Path(home).expanduser()
        if not home.strip() or not path.is_absolute():
            raise SettingsError(f"{ENV_DAGSTER_HOME}={home!r} must be an absolute path to a folder")
        if path.exists() and not path.is_dir():
            raise SettingsError(f"{ENV_DAGSTER_HOME}={home!r} is a file; it must be a folder")
