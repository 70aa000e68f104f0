"""The run's progress lines follow dbt's log as it grows: whole lines only, across a rotation."""

from __future__ import annotations

from pathlib import Path

from pipelines.progress import DBT_NODE_LINE, LogFollower


def counts(text: str) -> list[str]:
    return [done for done, _total, _status in DBT_NODE_LINE.findall(text)]


def test_a_line_being_written_is_read_whole_on_the_next_poll(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    follower = LogFollower(log)
    assert follower.new_lines() == ""  # dbt has not started writing
    log.write_text("1 of 1 OK hook: outcomes.on-run-start.0 ... [OK in 0.02s]\n"  # a hook, no model
                   "1 of 404 OK created sql table model a\n403 of 40")
    assert counts(follower.new_lines()) == ["1"]
    with log.open("a") as more:  # the rest of the line dbt was writing
        more.write("4 PASS not_null_x\n404 of 404 PASS unique_x\n")
    assert counts(follower.new_lines()) == ["403", "404"]
    assert follower.new_lines() == ""


def test_a_rotated_log_is_read_to_its_end_before_the_new_one(tmp_path: Path) -> None:
    """dbt renames dbt.log to dbt.log.1 at 10 MB and begins a new dbt.log; the same happens when
    the log is rewritten in place of itself (scrubbed) as the call ends: read from its start."""
    log = tmp_path / "dbt.log"
    log.write_text("10 of 404 OK a\n")
    follower = LogFollower(log)
    assert counts(follower.new_lines()) == ["10"]
    with log.open("a") as more:
        more.write("11 of 404 OK b\n")
    log.rename(tmp_path / "dbt.log.1")
    log.write_text("12 of 404 OK c\n")
    assert counts(follower.new_lines()) == ["11", "12"]
    log.with_name("scrubbed").write_text("12 of 404 OK c\n13 of 404 OK d\n")
    log.with_name("scrubbed").replace(log)
    assert counts(follower.new_lines()) == ["12", "13"]
