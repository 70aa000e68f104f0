"""The Dagster UI in a real browser: `outcomes ui` serves the project, and a person can use it.

Unit tests prove the definitions load; only a browser proves what a quality team member sees:
the stages and dbt layers in the lineage graph, the asset checks on an asset's page, a build made
by `outcomes run` in the timeline and the job's history with every delivered month a materialized
partition and each month's row count (the session's shared build, its Dagster instance copied),
and a partition launched by clicking that runs to success;
then SIGTERM to `outcomes ui` leaves no process behind (issue #16). The test starts `outcomes ui`
on a free port with the settings fixture's folders and DAGSTER_HOME, drives headless Chromium
(Debian's, no browser download) through Playwright, and confirms the runs in the same Dagster
instance the UI used.

Screenshots go to tmp_path (and OUTCOMES_SCREENSHOTS when set) so a failure can be looked at.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import duckdb
import psutil
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from pipelines.ingest.discover import discover
from pipelines.partitions import EXPORT_MONTHS
from pipelines.settings import PROJECT_ROOT, Settings
from tests.conftest import TinyBuild, start_from
from tests.pipeline_processes import hold_writer_lock

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Locator, Page, expect, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the chromium fixture skips the test
    sync_playwright = None  # type: ignore[assignment]

# The stages, with the transform stage as one group per dbt layer (its schema).
GROUPS = ("ingest", "validate", "reference", "stg", "intermediate", "marts", "reporting", "data_quality",
          "publish")
SERVER_START_SECONDS = 120
LAUNCH_SECONDS = 300  # the launch mutation builds the execution plan; slow on a busy machine
RUN_SECONDS = 900  # a full run with dbt: ~1 min quiet, several when the machine is shared
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Group boxes and asset nodes of the lineage graph are SVG foreignObjects: which nodes sit inside
# which group's box says which group the graph shows them in (node labels are only the last key part).
NODES_BY_GROUP_JS = r"""(groups) => {
  const boxes = [...document.querySelectorAll('foreignObject')].map(f => ({
    x: +f.getAttribute('x'), y: +f.getAttribute('y'),
    w: +f.getAttribute('width'), h: +f.getAttribute('height'),
    // zoomed in, a node's box also holds its details ("Latest event", checks, partitions): keep the name
    text: (f.textContent || '').trim().replace(/Latest event[\s\S]*$/, '')}));
  const out = {};
  for (const g of boxes.filter(b => groups.includes(b.text))) {
    out[g.text] = boxes.filter(b => b.text && !groups.includes(b.text) && b.x >= g.x && b.y >= g.y
      && b.x + b.w <= g.x + g.w && b.y + b.h <= g.y + g.h).map(b => b.text);
  }
  return out;
}"""


def _chromium_path() -> str | None:
    """OUTCOMES_CHROMIUM, else Debian's chromium: the test never downloads a browser."""
    configured = os.environ.get("OUTCOMES_CHROMIUM")
    if configured:
        return configured  # set but wrong is a configuration error: launching it will say so
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _free_port() -> int:
    """A port nothing listens on now, so parallel sessions and a developer's UI on 3000 don't clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterUI:
    """A running `outcomes ui`: its address, its process and where its output goes."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for assertion messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return f"\n--- dagster dev output (tail of {self.log}) ---\n{text[-chars:]}"


def _stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Stop the whole process group: outcomes ui, dagster dev, webserver, daemon, code servers, runs.

    SIGTERM first so dagster dev shuts its children down and removes its temporary files; SIGKILL
    for whatever is still in the group after the grace period.
    """
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, or its zombie keeps the group alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def chromium() -> str:
    """Chromium's path; skips (only) when there is no browser or no Playwright to drive it."""
    if sync_playwright is None:
        pytest.skip("playwright is not installed in this environment")
    path = _chromium_path()
    if path is None:
        pytest.skip("no Chromium: /usr/bin/chromium is missing and OUTCOMES_CHROMIUM is not set")
    return path


@pytest.fixture
def dagster_ui(settings: Settings, landing: Path, tiny_build: TinyBuild,
               tmp_path: Path) -> Iterator[DagsterUI]:
    """`outcomes ui --port N` on the settings fixture's folders and DAGSTER_HOME, killed afterwards.

    They begin as a copy of the session's shared build: its warehouse, and its Dagster instance
    with the run `outcomes run` made (the same exports as `landing`), so the UI shows a build made
    from the command line without a second full run."""
    home = Path(os.environ["DAGSTER_HOME"])
    start_from(tiny_build, settings)
    shutil.copytree(tiny_build.home, home, dirs_exist_ok=True)
    # The project's instance configuration (telemetry off), in the test's own instance folder.
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    log = tmp_path / "dagster_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    ui = DagsterUI(url=f"http://127.0.0.1:{port}", process=process, log=log)
    started = time.monotonic()
    try:
        deadline = started + SERVER_START_SECONDS
        while True:
            assert process.poll() is None, f"outcomes ui exited with {process.returncode}{ui.tail()}"
            try:
                with urllib.request.urlopen(f"{ui.url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, f"no /server_info after {SERVER_START_SECONDS} s{ui.tail()}"
            time.sleep(1)
        print(f"[ui] {ui.url}/server_info answered after {time.monotonic() - started:.0f} s")
        yield ui
    finally:
        _stop(process)


class Shots:
    """Numbered screenshots in tmp_path, copied to OUTCOMES_SCREENSHOTS (if set) even on failure."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}_{name}.png"
        self.page.screenshot(path=str(path))
        self.taken.append(path)
        return path

    def publish(self) -> None:
        target = os.environ.get("OUTCOMES_SCREENSHOTS")
        if target and self.taken:
            Path(target).mkdir(parents=True, exist_ok=True)
            for path in self.taken:
                shutil.copy(path, Path(target) / path.name)


def _run_failure_details(instance: DagsterInstance, run_id: str) -> str:
    """Step and run failure messages of a run, so a red test says why without opening the UI."""
    lines = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and (event.is_step_failure or event.is_run_failure):
            error = getattr(event.event_specific_data, "error", None)
            lines.append(f"{event.event_type_value}: {record.message}\n{error.to_string() if error else ''}")
    return "\n".join(lines)[-6000:]


def _dismiss_community_dialog(page: Page) -> None:
    """Skip the "Join the Dagster community" dialog, now and whenever it shows again.

    A fresh instance shows it to the first visitor one second after the page loads, over
    everything else; the handler covers a later appearance, the wait makes screenshots clean.
    """
    skip = page.get_by_role("button", name="Skip", exact=True)
    page.add_locator_handler(skip, lambda button: button.click())
    with contextlib.suppress(PlaywrightTimeout):  # not shown: dismissed before, or a UI without it
        skip.click(timeout=20_000)
    expect(skip).to_be_hidden()


def _check_lineage(page: Page, ui: DagsterUI, shots: Shots) -> None:
    """The global lineage graph shows the four stages, and their assets inside the right group."""
    page.goto(f"{ui.url}/asset-groups")
    _dismiss_community_dialog(page)
    expect(page.get_by_role("button", name="Materialize all")).to_be_visible()
    page.wait_for_function(  # collapsed group nodes: "ingest 3", "validate 3", ...
        "(groups) => groups.every(g => [...document.querySelectorAll('foreignObject')]"
        ".some(f => (f.textContent || '').trim().startsWith(g)))", arg=list(GROUPS))
    page.wait_for_timeout(1000)  # the graph animates into place
    shots.take("graph_groups")

    # All 40-odd assets expanded are unreadable; a selection keeps every stage and two marts.
    selection = ('group:ingest or group:validate or group:publish '
                 'or key:"marts/response_rates" or key:"marts/adverse_events"')
    page.goto(f"{ui.url}/asset-groups~{quote(selection, safe='')}")
    expect(page.get_by_text("marts/response_rates").first).to_be_visible()  # in the filter box
    page.locator("button:has([aria-label='settings'])").last.click()  # the graph's gear, bottom right
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    page.wait_for_function(f"(groups) => ({NODES_BY_GROUP_JS})(groups).publish?.includes('warehouse')",
                           arg=list(GROUPS))
    nodes = page.evaluate(NODES_BY_GROUP_JS, list(GROUPS))
    page.wait_for_function("() => document.querySelectorAll('svg path[marker-end]').length >= 5")  # edges
    page.wait_for_timeout(1000)  # the graph animates into place
    shots.take("graph_assets")
    expected = {
        "ingest": {"questionnaires", "sessions", "vitals"},  # raw/<export>
        "validate": {"questionnaires", "sessions", "vitals"},  # staging/<export>
        "marts": {"adverse_events", "response_rates"},  # marts/...
        "publish": {"warehouse"},  # publish/warehouse (a stage may gain assets: subsets)
    }
    assert all(names <= set(nodes.get(group, [])) for group, names in expected.items()), nodes


def _check_item(page: Page, check: str, status: str) -> Locator:
    """A check in the Checks tab's list: its name (twice in the DOM) over its status ("Not evaluated")."""
    return page.locator("div").filter(has_text=re.compile(rf"^({re.escape(check)}\s*)+{status}$", re.I)).first


def _check_asset_checks_listed(page: Page, ui: DagsterUI, shots: Shots) -> None:
    """After the command-line build, the assets' Checks tabs list their checks, each succeeded."""
    page.goto(f"{ui.url}/assets/staging/vitals?view=checks")
    expect(page.get_by_text(re.compile(r"^Checks \(\d+\)$"))).to_be_visible()  # the tab's list
    for check in ("gx_suite", "rows_accounted", "quarantined_share"):
        expect(_check_item(page, check, "succeeded")).to_be_visible()
    shots.take("checks_staging_vitals")
    page.goto(f"{ui.url}/assets/raw/sessions?view=checks")
    expect(page.get_by_text(re.compile(r"^Checks \(\d+\)$"))).to_be_visible()
    expect(_check_item(page, "files_accepted", "succeeded")).to_be_visible()
    shots.take("checks_raw_sessions")


def _the_cli_build() -> str:
    """The run of `outcomes run` in this instance (the shared build's, copied with its instance: the
    run a data engineer starts from a terminal or cron). Returns its run id."""
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs(RunsFilter(job_name="main"))
        return run.run_id


def _check_the_cli_build(page: Page, ui: DagsterUI, shots: Shots, run_id: str, months: list[str]) -> None:
    """Issue #16: the CLI run is a run of the code location (timeline, the job's history), and a complete
    build looks complete: every month a partition, all materialized, each month's checks passed."""
    page.goto(f"{ui.url}/overview/activity/timeline")
    expect(page.get_by_text("pipelines.definitions").first).to_be_visible()
    expect(page.get_by_text("main", exact=True).first).to_be_visible()  # the job row, its run a bar
    shots.take("timeline_cli_run")
    page.goto(f"{ui.url}/locations/pipelines.definitions/jobs/main/runs")
    expect(page.locator(f"a[href='/runs/{run_id}']").first).to_be_visible()
    shots.take("job_history_cli_run")
    page.goto(f"{ui.url}/assets/staging/vitals?view=partitions")
    expect(page.get_by_text(f"Materialized ({len(months)})")).to_be_visible()
    expect(page.get_by_text("Missing (0)")).to_be_visible()
    expect(page.get_by_text("Failed (0)")).to_be_visible()
    shots.take("partitions_all_materialized")
    with duckdb.connect(str(Path(os.environ["OUTCOMES_WAREHOUSE"]) / "build.duckdb"), read_only=True) as con:
        query = "SELECT count(*) FROM staging.vitals WHERE export_month = ?"
        rows = con.execute(query, [months[1]]).fetchone()
    page.get_by_text(months[1], exact=True).first.click()  # a month's partition: that month's rows
    expect(page.get_by_text(re.compile(rf"^({rows[0]}|{rows[0]:,})$")).first).to_be_visible()
    shots.take("partition_row_count")
    with DagsterInstance.get() as instance:  # the partitions are the months delivered
        assert instance.get_dynamic_partitions(EXPORT_MONTHS) == months


def _launch_one_partition(page: Page, ui: DagsterUI, shots: Shots, month: str, months: list[str]) -> None:
    """Materialize all on the lineage graph, one custom partition, Launch 1 run."""
    page.goto(f"{ui.url}/asset-groups")
    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(re.compile(r"Launch runs to materialize \d+ assets"))
    dialog.get_by_text("All", exact=True).click()  # after a complete build the default ("missing") is none
    expect(dialog).to_contain_text(f"{len(months)} partitions")  # loaded, before Custom copies them as tags
    dialog.get_by_text("Custom", exact=True).click()  # the delivered months (dynamic partitions), each a tag
    for other in (m for m in months if m != month):
        dialog.locator(f'[data-tooltip="{other}"] [aria-label="close"]').click()
    expect(dialog).to_contain_text("1 partition")
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    shots.take("launch_dialog")
    launch.click()
    expect(dialog).to_be_hidden(timeout=LAUNCH_SECONDS * 1000)  # "Launching..." until the run exists


def _the_ui_run_waits_for_the_writer(page: Page, ui: DagsterUI, shots: Shots,
                                     holder: subprocess.Popen[str]) -> None:
    """Issue #15: launched while another writer (as `outcomes run` would) holds the warehouse, the run
    starts, says in its log who it waits for, and stays running; it goes on once the writer is done."""
    deadline = time.monotonic() + LAUNCH_SECONDS
    with DagsterInstance.get() as instance:
        while True:
            runs = instance.get_runs(filters=RunsFilter(tags={"dagster/from_ui": "true"}))
            said = [e.user_message for e in instance.all_logs(runs[0].run_id)] if runs else []
            if any(f"is being written by outcomes run (pid {holder.pid}" in m for m in said):
                break
            assert time.monotonic() < deadline, f"the UI run never said it waits: {said}{ui.tail()}"
            time.sleep(1)
        assert not instance.get_run_by_id(runs[0].run_id).is_finished
        page.goto(f"{ui.url}/runs/{runs[0].run_id}")
        expect(page.get_by_text(re.compile("is being written by outcomes run")).first).to_be_visible()
        shots.take("run_waits_for_the_writer")
    assert holder.stdin is not None
    holder.stdin.write("\n")  # the other writer finishes
    holder.stdin.flush()
    holder.wait(timeout=60)


def _wait_for_the_ui_run(page: Page, ui: DagsterUI, shots: Shots, month: str) -> str:
    """The one run in the instance the UI uses: launched from the UI, for the month, successful."""
    with DagsterInstance.get() as instance:  # DAGSTER_HOME of the settings fixture, as the UI's
        runs = instance.get_runs(filters=RunsFilter(tags={"dagster/from_ui": "true"}))
        assert len(runs) == 1, f"expected the one run launched from the UI, got {runs}{ui.tail()}"
        run = runs[0]
        assert run.tags.get("dagster/partition") == month, run.tags
        deadline = time.monotonic() + RUN_SECONDS
        while not (run := instance.get_run_by_id(run.run_id)).is_finished:
            assert time.monotonic() < deadline, f"run still {run.status} after {RUN_SECONDS} s{ui.tail()}"
            time.sleep(3)
        if run.status != DagsterRunStatus.SUCCESS:
            page.goto(f"{ui.url}/runs/{run.run_id}")
            shots.take("run_failed")
            details = _run_failure_details(instance, run.run_id)
            pytest.fail(f"run {run.run_id} {run.status}:\n{details}{ui.tail()}")
        report = instance.get_latest_materialization_event(AssetKey(["publish", "report"]))
        assert report is not None and report.dagster_event is not None
        assert report.run_id == run.run_id and report.asset_materialization is not None
        assert report.asset_materialization.metadata["month"].value == month  # the run's month, rendered
        return run.run_id


def _check_run_in_ui(page: Page, ui: DagsterUI, shots: Shots, run_id: str, month: str) -> None:
    """The Runs list and the run's own page show Success for the month, and the checks passed."""
    page.goto(f"{ui.url}/runs")
    link = page.locator(f"a[href='/runs/{run_id}']")
    row = page.locator("div[data-index]").filter(has=link)
    expect(row).to_contain_text("Success")
    expect(row).to_contain_text(f"partition: {month}")
    shots.take("runs_success")
    row.locator(link).first.click()
    expect(page).to_have_url(re.compile(f"/runs/{run_id}"))
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"partition: {month}").first).to_be_visible()
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()
    shots.take("run_success")

    page.goto(f"{ui.url}/assets/staging/vitals?view=checks")
    for check in ("gx_suite", "rows_accounted"):
        expect(_check_item(page, check, "succeeded")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^passed$", re.IGNORECASE)).first).to_be_visible()  # gx_suite
    shots.take("checks_after_run")


@pytest.mark.slow
def test_ui_shows_the_pipeline_and_runs_a_partition_launched_by_clicking(
    chromium: str, dagster_ui: DagsterUI, settings: Settings, landing: Path, tmp_path: Path
) -> None:
    """Graph, checks, a one-month launch by clicking, and its success, as a person would see them.

    `chromium` comes first so a machine without a browser skips before dagster dev starts.
    """
    month = discover(landing).months[-1]
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})  # the whole filtered graph
        page.set_default_timeout(60_000)
        page.set_default_navigation_timeout(120_000)
        shots = Shots(page, tmp_path)
        started = time.monotonic()

        def done(phase: str) -> None:  # phase timings in the captured output: where did the minutes go
            print(f"[ui] {phase}: {time.monotonic() - started:.0f} s after the browser started")

        try:
            _check_lineage(page, dagster_ui, shots)
            done("lineage graph checked")
            _check_asset_checks_listed(page, dagster_ui, shots)
            done("asset checks listed")
            cli_run = _the_cli_build()
            _check_the_cli_build(page, dagster_ui, shots, cli_run, discover(landing).months)
            done("the CLI build shown healthy")
            holder = hold_writer_lock(settings.warehouse)  # another writer holds the warehouse's lock
            try:
                _launch_one_partition(page, dagster_ui, shots, month, discover(landing).months)
                done(f"run for {month} launched while another writer holds the warehouse")
                _the_ui_run_waits_for_the_writer(page, dagster_ui, shots, holder)
                done("the run waited for the writer")
            finally:
                holder.kill()
            run_id = _wait_for_the_ui_run(page, dagster_ui, shots, month)
            done(f"run {run_id} succeeded")
            _check_run_in_ui(page, dagster_ui, shots, run_id, month)
            done("run and checks shown in the UI")
        except (AssertionError, PlaywrightError) as error:  # a UI expectation: add the server's side
            with contextlib.suppress(Exception):  # the page itself may be what broke
                shots.take("failure")
            if "dagster dev output" in str(error):
                raise
            raise AssertionError(f"{error}{dagster_ui.tail()}") from error
        finally:
            shots.publish()
            browser.close()
    assert (settings.warehouse / "outcomes.duckdb").exists(), dagster_ui.tail()
    _sigterm_leaves_no_process(dagster_ui)


def _sigterm_leaves_no_process(ui: DagsterUI) -> None:
    """SIGTERM to `outcomes ui` alone (as a service manager stops it) stops dagster dev, its webserver,
    daemon and code servers too (issue #16: they used to outlive it)."""
    family = [psutil.Process(ui.process.pid), *psutil.Process(ui.process.pid).children(recursive=True)]
    assert len(family) >= 4, [p.cmdline() for p in family]  # outcomes ui, dagster dev, webserver, daemon, ...
    ui.process.send_signal(signal.SIGTERM)
    ui.process.wait(timeout=90)
    _gone, alive = psutil.wait_procs(family, timeout=60)
    assert not alive, [p.cmdline()[:4] for p in alive]
