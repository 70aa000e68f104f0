"""Asset checks that count contract-rule violations per export month in DuckDB SQL."""


from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from dagster_duckdb import DuckDBResource

from pipelines import contract
from pipelines.ingest.assets import raw_asset_key
from pipelines.partitions import monthly_partitions
from pipelines.validate.rules import count_violations, row_rules


def build_contract_check(export_name: str) -> AssetChecksDefinition:
    """Warn with per-rule counts when rows of the checked months break the export contract."""
    rule_text = "; ".join(r.message for r in row_rules(export_name))

    @asset_check(
        asset=raw_asset_key(export_name),
        name="contract_rules",
        partitions_def=monthly_partitions,
        description=f"Counts rows that break each {export_name} contract rule: {rule_text}.",
    )
    def _check(context: AssetCheckExecutionContext, duckdb: DuckDBResource) -> AssetCheckResult:
        totals: dict[str, int] = {}
        rows = 0
        with duckdb.get_connection() as con:
            for month in context.partition_keys:
                relation = f"(SELECT * FROM raw.{export_name} WHERE export_month = '{month}')"
                counts = count_violations(con, relation, export_name, month)
                for name, n in counts.items():
                    totals[name] = totals.get(name, 0) + n
                got = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
                rows += int(got[0]) if got else 0
        broken = {k: v for k, v in totals.items() if v}
        return AssetCheckResult(
            passed=not broken,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "rows_checked": MetadataValue.int(rows),
                "violations": MetadataValue.int(sum(broken.values())),
                **{f"rule:{k}": MetadataValue.int(v) for k, v in sorted(totals.items())},
            },
        )

    return _check


contract_checks = [build_contract_check(name) for name in contract.EXPORTS]
