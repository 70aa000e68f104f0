"""GX suites: stored JSON equals code, the DuckDB shim still matters, every rule is counted in DuckDB."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest

from pipelines import contract
from pipelines.validate import gx_runner, gx_suites
from pipelines.validate.rules import count_violations, row_rules
from tests.contract_examples import ALSO_BROKEN, BREAKS, MONTH, NOW, VALID

SSN = "123-45-6789"

ORPHAN_RULES = {"sessions": set(), "vitals": {"session_id.orphan"},
                "questionnaires": {"patient_id.orphan", "session_id.orphan"}}


# ---------------------------------------------------------------------------------------------
# helpers: raw tables as the ingest stage writes them (contract columns as text + lineage)


def create_raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for exp in contract.CONTRACT.values():
        cols = ", ".join(f'"{c}" VARCHAR' for c in exp.column_names)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS raw.{exp.name} ({cols}, export_month VARCHAR, "
            "source_file VARCHAR, file_sha256 VARCHAR, line_number BIGINT, ingested_at TIMESTAMP)"
        )


def insert(con: duckdb.DuckDBPyConnection, export_name: str, rows: list[dict[str, str]],
           month: str = MONTH) -> None:
    """Insert rows as delivered: an empty CSV field is NULL, whitespace stays text."""
    cols = contract.export(export_name).column_names
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" for _ in cols)
    con.executemany(
        f"INSERT INTO raw.{export_name} ({names}, export_month, source_file, line_number, ingested_at) "
        f"VALUES ({marks}, ?, ?, ?, now())",
        [[row.get(c) or None for c in cols] + [month, f"{export_name}_{month}.csv", i + 2]
         for i, row in enumerate(rows)],
    )


def make_db(path: Path, data: dict[str, list[dict[str, str]]] | None = None,
            months: dict[str, dict[str, list[dict[str, str]]]] | None = None) -> Path:
    """A DuckDB file with raw tables; `data` goes into MONTH, `months` maps month -> data."""
    con = duckdb.connect(str(path))
    try:
        create_raw(con)
        for month, by_export in {**({MONTH: data} if data else {}), **(months or {})}.items():
            for export_name, rows in by_export.items():
                insert(con, export_name, rows, month)
    finally:
        con.close()
    return path


def counts(outcome: gx_runner.SuiteOutcome) -> dict[str, int]:
    return {o.rule: o.unexpected_count for o in outcome.outcomes}


def broken(outcome: gx_runner.SuiteOutcome) -> dict[str, int]:
    return {o.rule: o.unexpected_count for o in outcome.outcomes if o.unexpected_count}


def sql_counts(db: Path, export_name: str, month: str = MONTH) -> dict[str, int]:
    """The plain-SQL counts of rules.count_violations over the same rows."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        relation = f"(SELECT * FROM raw.{export_name} WHERE export_month = '{month}')"
        return count_violations(con, relation, export_name, NOW)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# the stored suites


def test_stored_suites_equal_code(tmp_path: Path) -> None:
    assert gx_suites.stale_suites() == [], "run `python -m pipelines.validate.gx_suites --write`"
    assert gx_suites.main(["--check"]) == 0
    written = gx_suites.write_suites(tmp_path)
    for path in written:
        stored = gx_suites.SUITE_DIR / path.name
        assert path.read_text(encoding="utf-8") == stored.read_text(encoding="utf-8")
    # a stale file is reported, and --write fixes it
    (tmp_path / "vitals.json").write_text("{}", encoding="utf-8")
    assert gx_suites.stale_suites(tmp_path) == ["vitals"]
    assert gx_suites.main(["--check", "--dir", str(tmp_path)]) == 1
    assert gx_suites.main(["--write", "--dir", str(tmp_path)]) == 0
    assert gx_suites.stale_suites(tmp_path) == []


def test_every_rule_has_an_example() -> None:
    rules = {(e, r.name) for e in contract.EXPORTS for r in row_rules(e, NOW)}
    assert rules == set(BREAKS), "add a failing example here (and in tests/test_contract.py)"


@pytest.mark.parametrize("export_name", contract.EXPORTS)
def test_suite_covers_every_rule_once(export_name: str) -> None:
    suite = gx_suites.load_suite(export_name)
    ids = [e.meta["rule"] for e in suite.expectations]
    assert len(ids) == len(set(ids)), "rule ids must be unique within a suite"
    expected = {r.name for r in row_rules(export_name, NOW)}
    expected |= {gx_suites.DUPLICATE_RULE, gx_suites.ROW_COUNT_RULE} | ORPHAN_RULES[export_name]
    assert set(ids) == expected
    # no SQL and no month or "now" in the stored suite: rule columns by name, built by the runner
    flags = {e.column for e in suite.expectations if isinstance(e, gxe.ExpectColumnValuesToBeNull)}
    assert flags == set(gx_suites.flag_columns(export_name, NOW))
    assert MONTH not in json.dumps(suite.to_json_dict())


def test_native_expectations_where_gx_counts_right() -> None:
    kinds = {(e.meta["rule"].rsplit(".", 1)[1], type(e).__name__)
             for name in contract.EXPORTS for e in gx_suites.load_suite(name).expectations}
    assert ("missing", "ExpectColumnValuesToNotBeNull") in kinds
    assert ("not_allowed", "ExpectColumnValuesToBeInSet") in kinds
    assert ("out_of_range", "ExpectColumnValuesToBeBetween") in kinds
    assert ("duplicate", "ExpectColumnValuesToBeUnique") in kinds
    assert ("duplicate", "ExpectCompoundColumnsToBeUnique") in kinds
    # every other row rule is a rule column of the batch, expected null; orphans read another table
    assert {k for k, t in kinds if t == "ExpectColumnValuesToBeNull"} == {
        "wrong_type", "outside_month", "in_future", "implausible", "mismatch", "beyond_instrument",
        "unparseable", "unknown_term", "bad_grade", "out_of_range"}
    assert {k for k, t in kinds if t == "UnexpectedRowsExpectation"} == {"orphan"}


# ---------------------------------------------------------------------------------------------
# the DuckDB shim


def _direct_gx_run(db: Path) -> list:
    """A plain GX run on DuckDB without our runner: not-null and an unexpected-rows query."""
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql(
        "shim", connection_string=f"duckdb:///{db}", kwargs={"connect_args": {"read_only": True}}
    )
    asset = source.add_query_asset("q", query="SELECT * FROM raw.vitals")
    suite = gx.ExpectationSuite("shim", expectations=[
        gxe.ExpectColumnValuesToNotBeNull(column="unit"),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query="SELECT line_number FROM {batch} WHERE unit IS NULL"
        ),
    ])
    try:
        result = asset.add_batch_definition_whole_table("all").get_batch().validate(
            suite, result_format=gx_runner.RESULT_FORMAT
        )
    finally:
        gx_runner._close(source)
    return sorted(result.results, key=lambda r: r.expectation_config.type)


def test_duckdb_shim_is_still_needed_and_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_db(tmp_path / "w.duckdb", {"vitals": [VALID["vitals"], {**VALID["vitals"], "unit": ""}]})
    engine_module = gx_runner._gx_sql_engine
    assert isinstance(engine_module._PERSISTED_CONNECTION_DIALECTS, tuple), "GX moved the dialect tuple"
    original = tuple(d for d in engine_module._PERSISTED_CONNECTION_DIALECTS if d != "duckdb")

    # Without the fix GX fails silently: no counts, the error hidden in exception_info.
    monkeypatch.setattr(engine_module, "_PERSISTED_CONNECTION_DIALECTS", original)
    assert not gx_runner.duckdb_shim_applied()
    for res in _direct_gx_run(db):
        assert not res.success
        assert "unexpected_count" not in res.result and "observed_value" not in res.result
        assert list(gx_runner._exceptions(res.exception_info)), "GX fixed DuckDB? then drop the shim"
    # ... and the runner refuses to return such results instead of reporting them as failures.
    monkeypatch.setattr(gx_runner, "apply_duckdb_shim", lambda: None)
    with pytest.raises(gx_runner.GxRunError, match="could not evaluate rule"):
        gx_runner.run_suite(db, "vitals", [MONTH], NOW)
    monkeypatch.undo()

    # With the fix, the same run counts right.
    monkeypatch.setattr(engine_module, "_PERSISTED_CONNECTION_DIALECTS", original)
    gx_runner.apply_duckdb_shim()
    assert gx_runner.duckdb_shim_applied()
    not_null, rows_query = _direct_gx_run(db)
    assert (not_null.result["element_count"], not_null.result["unexpected_count"]) == (2, 1)
    assert rows_query.result["observed_value"] == 1
    gx_runner.apply_duckdb_shim()  # idempotent
    assert [d for d in engine_module._PERSISTED_CONNECTION_DIALECTS if d == "duckdb"] == ["duckdb"]


# ---------------------------------------------------------------------------------------------
# running the suites


@pytest.mark.parametrize("export_name", contract.EXPORTS)
def test_valid_month_passes(tmp_path: Path, export_name: str) -> None:
    data = {"sessions": [VALID["sessions"]], export_name: [VALID[export_name]]}
    db = make_db(tmp_path / "w.duckdb", data)
    outcome = gx_runner.run_suite(db, export_name, [MONTH], NOW)
    assert outcome.success, broken(outcome)
    assert (outcome.export, outcome.months) == (export_name, (MONTH,))
    assert all(o.success and o.unexpected_count == 0 and o.element_count == 1 for o in outcome.outcomes)
    assert {o.rule for o in outcome.outcomes} == {e.meta["rule"] for e in
                                                 gx_suites.load_suite(export_name).expectations}
    assert outcome.seconds > 0


@pytest.mark.parametrize(("export_name", "rule"), sorted(BREAKS), ids=lambda v: str(v))
def test_each_rule_is_counted_like_sql(tmp_path: Path, export_name: str, rule: str) -> None:
    row = {**VALID[export_name], **BREAKS[(export_name, rule)]}
    data = {"sessions": [VALID["sessions"]]} if export_name != "sessions" else {}
    data[export_name] = [row]
    db = make_db(tmp_path / "w.duckdb", data)
    outcome = gx_runner.run_suite(db, export_name, [MONTH], NOW)
    expected = {name: 1 for name in {rule} | ALSO_BROKEN.get((export_name, rule), set())}
    assert broken(outcome) == expected
    assert not outcome.success
    by_rule = {o.rule: o for o in outcome.outcomes}
    assert not by_rule[rule].success and by_rule[rule].element_count == 1
    # GX and rules.count_violations agree on every rule they share.
    sql = sql_counts(db, export_name)
    got = counts(outcome)
    assert {k: got[k] for k in sql} == sql


@pytest.mark.parametrize("export_name", contract.EXPORTS)
def test_duplicate_keys_are_counted_like_sql(tmp_path: Path, export_name: str) -> None:
    changed = {"sessions": {"dose_mg": "41"}, "vitals": {"value": "131"}, "questionnaires": {"value": "3"}}
    rows = [VALID[export_name], {**VALID[export_name], **changed[export_name]}, VALID[export_name]]
    data = {"sessions": [VALID["sessions"]], export_name: rows}
    db = make_db(tmp_path / "w.duckdb", data)
    outcome = gx_runner.run_suite(db, export_name, [MONTH], NOW)
    assert broken(outcome) == {"key.duplicate": 3}
    assert sql_counts(db, export_name)["key.duplicate"] == 3


def test_rows_with_a_missing_key_are_not_duplicates_in_gx(tmp_path: Path) -> None:
    """Known difference: GX leaves rows with an empty key column out of uniqueness (they are
    counted under <column>.missing); rules.count_violations groups them as duplicates."""
    rows = [{**VALID["vitals"], "session_id": ""}, {**VALID["vitals"], "session_id": ""}]
    db = make_db(tmp_path / "w.duckdb", {"sessions": [VALID["sessions"]], "vitals": rows})
    outcome = gx_runner.run_suite(db, "vitals", [MONTH], NOW)
    assert broken(outcome) == {"session_id.missing": 2}
    assert sql_counts(db, "vitals")["key.duplicate"] == 2


def test_only_the_requested_months_are_validated(tmp_path: Path) -> None:
    april = {**VALID["vitals"], "measured_at": "2025-04-02T08:00:00"}
    db = make_db(tmp_path / "w.duckdb", months={
        "2025-02": {"sessions": [VALID["sessions"]]},
        MONTH: {"vitals": [VALID["vitals"], {**VALID["vitals"], "measure": "heart_rate", "unit": "/min",
                                             "value": "70"}]},
        # April: one implausible value, one reading dated in March (outside its file's month)
        "2025-04": {"vitals": [{**april, "value": "999"}, {**april, "measured_at": "2025-03-20T08:00:00"}]},
    })
    march = gx_runner.run_suite(db, "vitals", [MONTH], NOW)
    assert march.success and broken(march) == {}
    assert {o.element_count for o in march.outcomes} == {2}

    both = gx_runner.run_suite(db, "vitals", ["2025-04", MONTH, MONTH], NOW)
    assert both.months == (MONTH, "2025-04")
    # each row is held to the window of its own export_month: the March rows are fine
    assert broken(both) == {"value.implausible": 1, "measured_at.outside_month": 1}
    assert {o.element_count for o in both.outcomes} == {4}

    assert broken(gx_runner.run_suite(db, "vitals", ["2025-05"], NOW)) == {}


def test_orphans_against_raw_sessions(tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", months={
        "2025-02": {"sessions": [VALID["sessions"]]},  # known sessions of any month count
        MONTH: {
            "vitals": [VALID["vitals"], {**VALID["vitals"], "session_id": "SE-404", "measure": "heart_rate",
                                         "unit": "/min", "value": "70"}],
            "questionnaires": [
                {**VALID["questionnaires"], "session_id": "SE-1"},
                {**VALID["questionnaires"], "response_id": "R-2", "patient_id": "P-404"},
                {**VALID["questionnaires"], "response_id": "R-3", "session_id": "SE-404"},
            ],
        },
    })
    assert broken(gx_runner.run_suite(db, "vitals", [MONTH], NOW)) == {"session_id.orphan": 1}
    got = broken(gx_runner.run_suite(db, "questionnaires", [MONTH], NOW))
    assert got == {"patient_id.orphan": 1, "session_id.orphan": 1}


def test_no_row_value_reaches_the_outcome(tmp_path: Path) -> None:
    bad = {**VALID["sessions"], "session_id": SSN, "dose_mg": SSN, "sex": SSN, "site_id": SSN,
           "adverse_events": f"{SSN}:1", "session_start": SSN}
    db = make_db(tmp_path / "w.duckdb", {"sessions": [bad, bad]})
    outcome = gx_runner.run_suite(db, "sessions", [MONTH], NOW)
    assert broken(outcome) == {"dose_mg.wrong_type": 2, "sex.not_allowed": 2, "adverse_events.unparseable": 2,
                               "session_start.wrong_type": 2, "key.duplicate": 2}
    assert "6789" not in repr(outcome)
    # GX itself collected no value either (no partial/unexpected lists, no unexpected rows).
    _suite, result = gx_runner._validate(db, "sessions", (MONTH,), NOW, gx_suites.SUITE_DIR)
    assert "6789" not in json.dumps(result.to_json_dict(), default=str)


def test_read_only_and_nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_db(tmp_path / "w.duckdb", {"sessions": [VALID["sessions"]]})
    before = db.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert gx_runner.run_suite(db, "sessions", [MONTH], NOW).success
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]  # no gx/ folder, no .wal
    # the connections are released: a writer can open the file in this process right away
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO raw.sessions (session_id, export_month) VALUES ('SE-2', '2025-03')")
    con.close()


def test_a_writer_in_the_same_process_must_close_first(tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", {"sessions": [VALID["sessions"]]})
    writer = duckdb.connect(str(db))
    try:
        with pytest.raises(gx_runner.GxRunError, match="read-write connection"):
            gx_runner.run_suite(db, "sessions", [MONTH], NOW)
    finally:
        writer.close()
    assert gx_runner.run_suite(db, "sessions", [MONTH], NOW).success


def test_bad_arguments(tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", {"sessions": [VALID["sessions"]]})
    with pytest.raises(ValueError, match="YYYY-MM"):
        gx_runner.run_suite(db, "sessions", ["2025-3' OR 1=1 --"], NOW)
    with pytest.raises(ValueError, match="at least one month"):
        gx_runner.run_suite(db, "sessions", [], NOW)
    with pytest.raises(KeyError, match="unknown export"):
        gx_runner.run_suite(db, "labs", [MONTH], NOW)
    with pytest.raises(FileNotFoundError):
        gx_runner.run_suite(tmp_path / "missing.duckdb", "sessions", [MONTH], NOW)


# ---------------------------------------------------------------------------------------------
# performance sanity: ~1M vitals rows, GX through DuckDB vs rules.count_violations

N_VITALS = 1_000_000


def _million_vitals(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        create_raw(con)
        measures = "['systolic_bp', 'diastolic_bp', 'heart_rate', 'spo2', 'resp_rate']"
        units = "['mmHg', 'mmHg', '/min', '%', '/min']"
        values = "['120', '80', '70', '98', '16']"
        con.execute(f"""
            INSERT INTO raw.vitals
            SELECT 'S-' || (i // 5) AS session_id,
                   strftime(TIMESTAMP '2025-03-01 00:00:00' + to_seconds(i // 5), '%Y-%m-%dT%H:%M:%S'),
                   {measures}[i % 5 + 1],
                   CASE WHEN i % 1000 = 7 THEN '999' WHEN i % 4999 = 3 THEN 'n/a'
                        ELSE {values}[i % 5 + 1] END,
                   CASE WHEN i % 5003 = 11 THEN 'kPa' ELSE {units}[i % 5 + 1] END,
                   '{MONTH}', 'vitals_{MONTH}.csv', NULL, i + 2, now()
            FROM range({N_VITALS}) t(i)
        """)
        con.execute(f"""
            INSERT INTO raw.sessions (session_id, patient_id, export_month, line_number)
            SELECT 'S-' || s, 'P-' || (s // 10), '{MONTH}', s + 2 FROM range({N_VITALS // 5}) t(s)
            WHERE s % 1000 <> 5
        """)
    finally:
        con.close()
    return path


@pytest.mark.slow
def test_performance_gx_vs_sql_on_a_million_vitals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _million_vitals(tmp_path / "big.duckdb")
    started = time.perf_counter()
    sql = sql_counts(db, "vitals")
    sql_seconds = time.perf_counter() - started

    outcome = gx_runner.run_suite(db, "vitals", [MONTH], NOW)
    got = counts(outcome)
    assert {k: got[k] for k in sql} == sql
    assert got["value.implausible"] == N_VITALS // 1000 and got["session_id.orphan"] == 1000
    assert {o.element_count for o in outcome.outcomes} == {N_VITALS}
    with capsys.disabled():
        print(f"\n[perf] {N_VITALS:,} vitals rows: GX suite ({len(outcome.outcomes)} expectations) "
              f"{outcome.seconds:.2f} s, rules.count_violations {sql_seconds:.2f} s")
