"""PHI guard: reject a whole export file that holds protected health information.

Exports are a HIPAA limited data set (45 CFR 164.514(e)): real dates of service (the
warehouse reports by calendar month), banded ages with over 89 as `90+`, and none of the 16
direct identifiers of 164.514(e)(2) - plus, stricter than the rule, no birth, death or
admission dates, ZIP codes or cities, which the outcomes do not need. The guard runs
before anything is written to the warehouse, because once a value is in a table it lives
on in backups and logs. It has two parts:

* `scan_header` (pure Python) flags columns outside the contract whose *name* says they
  hold a direct identifier (`first_name`, `DOB`, `patientEmail`, ...). Other unknown
  columns are reported as schema drift.
* `scan_values` (one set-based DuckDB query per file) counts values that *look like*
  identifiers (SSN, e-mail, US phone number, US street address, IP address) in every
  column of the file.

Findings carry counts and line numbers, never values: a message that quoted the value
would copy the PHI into logs, run reports and exception trackers.

Limits: values are matched by shape only. Names, dates of birth, medical record or plan
numbers inside values have no shape to match and are caught only by their column's name;
an unknown column with an innocent name (`notes`) full of names passes. Lower-case street
addresses (`12 main st`) are not matched, to keep clinical prose (`2 doses on the road`) out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb

from pipelines import contract
from pipelines.ingest.discover import header_place, row_place
from pipelines.sql import lit, q

# --- Header scan -----------------------------------------------------------------------------
# In rule patterns `#no` stands for a number word (`cell_no`, `hospital_number`) and `#id` for
# a number word or an id word (`insurance_id`, `licence_number`, `device_id`).
_NUMBER_WORDS: frozenset[str] = frozenset({"number", "no", "num", "nbr", "nr"})
_ID_WORDS: frozenset[str] = _NUMBER_WORDS | {"id", "ids", "identifier"}
_PLACEHOLDERS: dict[str, frozenset[str]] = {"#id": _ID_WORDS, "#no": _NUMBER_WORDS}

# Leading words saying whose value it is. They are stripped before `whole` rules compare,
# so `patient_name`, `emergency_contact_phone` and `pt_cell` match while `site_name` or
# `drug_name` do not. Clinicians are included: the contract pseudonymises them.
_OWNER_WORDS: frozenset[str] = frozenset({
    "patient", "pt", "client", "subject", "participant", "person", "member",
    "home", "work", "office", "primary", "secondary", "alt", "alternate", "other", "personal",
    "contact", "emergency", "next", "of", "kin", "guardian", "parent", "mother", "father",
    "spouse", "partner", "relative", "employer", "legal", "preferred", "mailing", "billing",
    "residential", "current", "previous", "clinician", "provider", "physician", "doctor", "dr",
    "nurse", "prescriber", "referring",
})


@dataclass(frozen=True)
class _Rule:
    """Column names of one kind: `anywhere` token runs, or names that are `whole` after owner words."""

    kind: str
    hipaa: str  # the limited data set's direct identifier, 164.514(e)(2)(i)-(xvi), or why else it is refused
    anywhere: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()


# Refused although a limited data set may hold it: the outcomes need none of these.
NOT_NEEDED = "allowed in a limited data set but not needed here: refused (minimum necessary, 164.502(b))"

# Order matters: the first matching rule names the kind (`ip_address` before `street_address`).
HEADER_RULES: tuple[_Rule, ...] = (
    _Rule("ssn", "(vi) social security number",
          anywhere=("ssn", "social security", "socsec")),
    _Rule("email", "(v) electronic mail address",
          anywhere=("email", "e mail"), whole=("mail",)),
    _Rule("ip_address", "(xiv) internet protocol address",
          anywhere=("ip address", "ip addr", "ipv", "ipaddress"), whole=("ip",)),
    _Rule("url", "(xiii) web universal resource locator",
          anywhere=("url", "website", "web address", "homepage", "web page")),
    _Rule("device_id", "(xii) device identifier or serial number",
          anywhere=("device #id", "serial", "udi", "imei", "mac address", "mac addr")),
    _Rule("fax", "(iv) fax number", anywhere=("fax",)),
    _Rule("phone", "(iii) telephone number",
          anywhere=("phone", "telephone", "tel", "cell #no", "mobile #no", "pager", "contact #no"),
          whole=("cell", "mobile")),
    _Rule("name", "(i) name",
          anywhere=("first name", "last name", "middle name", "given name", "family name", "full name",
                    "maiden name", "nick name", "surname", "forename", "nickname"),
          whole=("name", "initials")),
    _Rule("date_of_birth", "birth date: " + NOT_NEEDED,
          anywhere=("dob", "birthdate", "birthday", "birth date", "birth dt", "date of birth", "birth year",
                    "year of birth", "yob", "born on")),
    _Rule("date_of_death", "death date: " + NOT_NEEDED,
          anywhere=("date of death", "death date", "deathdate", "death dt", "deceased date",
                    "date deceased"), whole=("dod",)),
    _Rule("admission_date", "admission or discharge date: " + NOT_NEEDED,
          anywhere=("admission date", "admit date", "discharge date", "date of admission",
                    "date of discharge")),
    _Rule("mrn", "(vii) medical record number",
          anywhere=("mrn", "medical record", "med rec", "medrec", "chart #id", "hospital #no", "emr #id",
                    "ehr #id")),
    _Rule("health_plan_id", "(viii) health plan beneficiary number",
          anywhere=("health plan #id", "health plan beneficiary", "insurance #id", "policy #id",
                    "subscriber #id", "beneficiary #id", "medicaid #id", "medicare #id", "member #id",
                    "insured #id")),
    _Rule("account_number", "(ix) account number",
          anywhere=("account #id", "acct", "bank account", "credit card", "card #id", "iban"),
          whole=("account",)),
    _Rule("license_number", "(x) certificate/license number",
          anywhere=("license #id", "licence #id", "driver license", "drivers license", "driving licence",
                    "certificate #id", "passport", "national #id", "tax #id", "nhs #id"),
          whole=("license", "licence")),
    _Rule("vehicle_id", "(xi) vehicle identifier or licence plate",
          anywhere=("vin", "license plate", "licence plate", "plate #id", "vehicle #id")),
    _Rule("biometric", "(xv) biometric identifier",
          anywhere=("fingerprint", "finger print", "voiceprint", "voice print", "retina scan",
                    "retinal scan", "iris scan", "biometric")),
    _Rule("photo", "(xvi) full-face photograph",
          anywhere=("photo", "photograph", "headshot", "face image", "selfie")),
    _Rule("zip", "ZIP code: " + NOT_NEEDED,
          anywhere=("zip", "zipcode", "zip code", "postal code", "postcode", "postalcode", "postal")),
    _Rule("city", "city: " + NOT_NEEDED,
          anywhere=("city", "town", "municipality")),
    _Rule("county", "(ii) postal address other than town, state, ZIP: county, precinct, tract",
          anywhere=("county", "precinct", "census tract", "census block", "neighborhood", "neighbourhood")),
    _Rule("geolocation", "(ii) postal address other than town, state, ZIP: geocode",
          anywhere=("latitude", "longitude", "geolocation", "geocode", "gps", "coordinates"),
          whole=("lat", "lng", "lon", "geo")),
    _Rule("street_address", "(ii) postal address other than town, state, ZIP: street address",
          anywhere=("address", "addr", "street", "apartment", "po box", "house #id"),
          whole=("residence",)),
)

HIPAA_IDENTIFIER: dict[str, str] = {r.kind: r.hipaa for r in HEADER_RULES}


def _hipaa_label(kind: str) -> str:
    """"limited data set direct identifier (v) electronic mail address", or why else it is refused."""
    label = HIPAA_IDENTIFIER.get(kind, "other unique identifying code")
    return f"limited data set direct identifier {label}" if label.startswith("(") else label


def _parse(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split())


_RULE_TOKENS: tuple[tuple[_Rule, tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]], ...] = tuple(
    (r, tuple(_parse(p) for p in r.anywhere), tuple(_parse(p) for p in r.whole)) for r in HEADER_RULES
)

# Words a glued-together token may be split into (`dateofbirth`, `PHONENUMBER`, `zipcode`).
# A token is split only when it is made of these words entirely, so `zipper`, `pipeline`,
# `description` or `ethnicity` stay whole.
_VOCABULARY: frozenset[str] = frozenset(
    word
    for rule in HEADER_RULES
    for pattern in (*rule.anywhere, *rule.whole)
    for word in pattern.split()
    if word not in _PLACEHOLDERS and len(word) > 1
) | _ID_WORDS | _OWNER_WORDS | frozenset({"date", "code", "line"})


def _segment(token: str) -> list[str]:
    """Split a token into vocabulary words (fewest pieces), or keep it whole if it cannot be."""
    if token in _VOCABULARY or len(token) > 40:
        return [token]
    best: list[list[str] | None] = [[]] + [None] * len(token)
    for end in range(1, len(token) + 1):
        for start in range(max(0, end - 20), end):
            head = best[start]
            word = token[start:end]
            if head is not None and word in _VOCABULARY:
                candidate = [*head, word]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    found = best[len(token)]
    return found if found else [token]


_CAMEL_RE = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])"
)


def normalise_column_name(name: str) -> tuple[str, ...]:
    """Lower-case word tokens of a column name: `patientDOB` -> (patient, dob), `e-mail` -> (e, mail)."""
    spaced = _CAMEL_RE.sub(" ", name.strip())
    words = re.split(r"[^0-9a-z]+", spaced.lower())
    return tuple(part for word in words if word for part in _segment(word))


def _contains(tokens: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    n = len(pattern)
    return any(
        all(p == t or t in _PLACEHOLDERS.get(p, ()) for p, t in zip(pattern, tokens[i:i + n], strict=True))
        for i in range(len(tokens) - n + 1)
    )


def _core(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The name without leading owner words and trailing numbers: `patient_name_2` -> (name,)."""
    start, end = 0, len(tokens)
    while start < end and tokens[start] in _OWNER_WORDS:
        start += 1
    while end > start and tokens[end - 1].isdigit():
        end -= 1
    return tokens[start:end]


def identifier_kind(column: str) -> str | None:
    """The kind of direct identifier a column name announces, or None for a harmless name."""
    tokens = normalise_column_name(column)
    if not tokens:
        return None
    core = _core(tokens)
    for rule, anywhere, whole in _RULE_TOKENS:
        if any(_contains(tokens, p) for p in anywhere) or core in whole:
            return rule.kind
    return None


# --- Value patterns (RE2 for DuckDB; the same text also compiles with Python `re`) ----------
_NUM_START = r"(?:^|[^0-9\-])"  # not the tail of a longer number, id or code
_NUM_END = r"(?:$|[^0-9\-])"
SSN_RE = _NUM_START + r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}" + _NUM_END
# Bare nine digits only standing alone (`SSN:123456789`), not inside a code or hex id (`SE-a123456789b`).
SSN_BARE_RE = r"(?:^|[^0-9A-Za-z_.\-])[0-9]{9}(?:$|[^0-9A-Za-z_.\-])"
EMAIL_RE = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
PHONE_RE = (
    _NUM_START
    + r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}"
    + _NUM_END
    + r"|\+1[2-9][0-9]{9}(?:$|[^0-9])"
)
_STREET_SUFFIXES: tuple[str, ...] = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Drive", "Dr", "Lane", "Ln",
    "Court", "Ct", "Place", "Pl", "Terrace", "Ter", "Circle", "Cir", "Parkway", "Pkwy", "Highway", "Hwy",
    "Square", "Sq", "Trail", "Trl", "Way", "Plaza", "Plz", "Alley", "Crescent", "Cres",
)


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted(set(words), key=lambda w: (-len(w), w)))


_DIRECTIONS = ("N", "S", "E", "W", "NE", "NW", "SE", "SW", "North", "South", "East", "West")
# House number, optional direction, one to three street-name words, street suffix; written
# either in Title Case (`42 W Elm Avenue`) or in capitals (`123 MAIN ST`). Lower-case prose
# (`2 doses on the road`, `40 min due to way`) and acronyms (`2 IV Dr`) stay out.
_HOUSE = r"(?:^|[^0-9A-Za-z/.:\-])[0-9]{1,6}[A-Za-z]? +"
_END = r"\.?(?:$|[^A-Za-z0-9])"
STREET_ADDRESS_RE = (
    _HOUSE
    + r"(?:(?:" + _alternation(_DIRECTIONS) + r")\.? +)?"
    + r"(?:(?:[A-Z](?:[a-z]|'[A-Z])[A-Za-z'\-]*|[0-9]+(?:st|nd|rd|th)) +){1,3}"
    + r"(?:" + _alternation(_STREET_SUFFIXES) + r")" + _END
    + "|" + _HOUSE
    + r"(?:(?:" + _alternation(d.upper() for d in _DIRECTIONS) + r")\.? +)?"
    + r"(?:(?:[A-Z][A-Z'\-]+|[0-9]+(?:ST|ND|RD|TH)) +){1,3}"
    + r"(?:" + _alternation(s.upper() for s in _STREET_SUFFIXES) + r")" + _END
    + r"|(?:^|[^A-Za-z])(?i:p\.? ?o\.? box) +[0-9]+"
)
IPV4_RE = (
    r"(?:^|[^0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:$|[^0-9.])"
)

# kind -> pattern. STRICT patterns run on every column; LOOSE ones on free text and unknown
# columns, where a bare 9-digit run or a dotted quad is not part of an id, code or number.
STRICT_PATTERNS: dict[str, str] = {
    "ssn": SSN_RE,
    "email": EMAIL_RE,
    "phone": PHONE_RE,
    "street_address": STREET_ADDRESS_RE,
}
LOOSE_PATTERNS: dict[str, str] = {
    **STRICT_PATTERNS,
    "ssn": SSN_RE + "|" + SSN_BARE_RE,
    "ip_address": IPV4_RE,
}

_KIND_LABELS: dict[str, str] = {
    "ssn": "a US social security number",
    "email": "an e-mail address",
    "phone": "a US telephone number",
    "fax": "a fax number",
    "street_address": "a street address",
    "ip_address": "an IP address",
    "url": "a web address (URL)",
    "device_id": "a device identifier or serial number",
    "name": "a person's name",
    "date_of_birth": "a date of birth",
    "date_of_death": "a date of death",
    "admission_date": "an admission or discharge date",
    "mrn": "a medical record number",
    "health_plan_id": "a health plan beneficiary number",
    "account_number": "an account number",
    "license_number": "a certificate or licence number",
    "vehicle_id": "a vehicle identifier",
    "biometric": "a biometric identifier",
    "photo": "a photograph",
    "zip": "a ZIP code",
    "city": "a city",
    "county": "a county or smaller area",
    "geolocation": "a geographic coordinate",
}


_PY_LOOSE: dict[str, re.Pattern[str]] = {kind: re.compile(p) for kind, p in LOOSE_PATTERNS.items()}


# --- Findings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhiFinding:
    """One reason to reject a file. Holds where and how often, never the value itself."""

    file: str  # file name only
    column: str
    kind: str
    where: str  # "header" or "values"
    rows: int  # matching rows (0 for header findings)
    first_line: int | None  # line of the first matching row (header = line 1)

    def message(self) -> str:
        label = _KIND_LABELS.get(self.kind, self.kind.replace("_", " "))
        column = repr(self.column)
        if self.where == "header":
            return (
                f"{self.file}: column {column} ({header_place(self.file)}, header) is named like {label} "
                f"({self.kind}; "
                f"HIPAA {_hipaa_label(self.kind)}); "
                f"file rejected, values not shown"
            )
        rows = f"{self.rows} row{'s' if self.rows != 1 else ''}"
        return (
            f"{self.file}: column {column} holds values that look like {label} "
            f"({self.kind}; {rows}, first at {row_place(self.file, self.first_line or 0)}); file rejected, "
            "values not shown"
        )


@dataclass(frozen=True)
class HeaderScan:
    """What the header alone says: identifier columns, harmless unknown columns, missing ones."""

    phi: tuple[PhiFinding, ...]
    drift: tuple[str, ...]  # unknown harmless columns
    missing_required: tuple[str, ...]


class PhiRejected(ValueError):
    """A file refused because it holds PHI; the text lists every finding and quotes no value."""

    def __init__(self, findings: Iterable[PhiFinding]) -> None:
        self.findings: tuple[PhiFinding, ...] = tuple(findings)
        super().__init__("\n".join(f.message() for f in self.findings) or "PHI found; file rejected")


def shown_column(column: str, position: int) -> str:
    """The column as findings name it: itself, unless the name looks like a value.

    A file exported without a header row gets its first data row as column names; naming
    those columns would leak the very values the guard keeps out.
    """
    if any(p.search(column) for p in _PY_LOOSE.values()):
        return f"<column {position}, name withheld>"
    return column


def identifier_in_text(text: str) -> str | None:
    """What identifier a piece of free text written by a person (a retraction's reason) looks like
    it holds, by the value patterns of the file scan; None when it looks like none."""
    kind = next((k for k, p in _PY_LOOSE.items() if p.search(text)), None)
    return _KIND_LABELS.get(kind, kind) if kind else None


def scan_header(file_name: str, export: str, columns: Sequence[str]) -> HeaderScan:
    """Flag identifier-named columns outside the contract; list drift and missing required columns.

    When no contract column is present at all, the "header" is most likely a data row (an
    export without its header line), so drift names are withheld too: they may be values.
    """
    exp = contract.export(export)
    known = set(exp.column_names)
    headerless = not known.intersection(columns)
    phi: list[PhiFinding] = []
    drift: list[str] = []
    for position, column in enumerate(columns, start=1):
        if column in known:
            continue
        value_kind = next((k for k, p in _PY_LOOSE.items() if p.search(column)), None)
        kind = value_kind or identifier_kind(column)
        if kind:
            phi.append(PhiFinding(file_name, shown_column(column, position), kind, "header", 0, 1))
        else:
            drift.append(f"<column {position}, name withheld>" if headerless else column)
    missing = tuple(c for c in exp.required_columns if c not in columns)
    return HeaderScan(tuple(phi), tuple(drift), missing)


# --- Value scan ----------------------------------------------------------------------------------
def _contract_column(file_name: str, column: str) -> contract.Column | None:
    """The contract's definition of a column: from the file's export, else from any export."""
    match = contract.FILE_NAME_RE.match(file_name)
    exports = [contract.export(match["export"])] if match else []
    exports += [e for e in contract.CONTRACT.values() if e not in exports]
    for exp in exports:
        if column in exp.column_names:
            return exp.column(column)
    return None


def _is_free_text(col: contract.Column | None) -> bool:
    """Unknown columns and open VARCHAR contract columns (e.g. `stop_reason`) get the loose patterns."""
    if col is None:
        return True
    return (
        col.dtype == "VARCHAR" and col.allowed is None and not col.identifier and not col.name.endswith("_id")
    )


# The shortest value any pattern can match: `a@b.co`; addresses (`1 Ab St`) and IPs need 7.
MIN_MATCH_LENGTH = 6
# A contract timestamp of exactly this shape cannot hold any strict pattern unless it has an
# `@` or a space: every SSN or phone window (11+ characters) would cover the `T`.
_ISO_TIMESTAMP_LIKE = "____-__-__T__:__:__"


def _gate_expr(ref: str, col: contract.Column | None, strict: bool) -> str:
    """A cheap, regex-free test that a value may match; most export values fail it.

    One RE2 call costs ~100 ns per value, `length`/`contains`/`LIKE` a few ns each. Without
    `@`, a space, `(` or `+`, a strict pattern can only be a dashed or dotted SSN or phone
    number, which has two `-`/`.` separators: a pseudonymous id (`SE-0a1b...`) or a decimal
    fails the test and never reaches the regex. Contract vocabulary values and clean ISO
    timestamps are excluded first (cheapest for those columns). Free-text and unknown columns
    only get the length test: bare 9-digit SSNs and IPs need none of those marks.
    """
    gates = [f"length({ref}) >= {MIN_MATCH_LENGTH}"]
    if not strict:
        return gates[0]
    if col is not None and col.dtype == "TIMESTAMP":
        gates.append(
            f"NOT ({ref} LIKE {lit(_ISO_TIMESTAMP_LIKE)} AND NOT contains({ref}, '@')"
            f" AND NOT contains({ref}, ' '))"
        )
    vocabulary = col.allowed if col is not None and col.allowed else ()
    long_terms = [v for v in vocabulary if len(v) >= MIN_MATCH_LENGTH]
    if long_terms:
        gates.append(f"{ref} NOT IN ({', '.join(lit(v) for v in long_terms)})")
    marks = " OR ".join(f"contains({ref}, {lit(mark)})" for mark in ("@", " ", "(", "+"))
    separators = (
        f"{ref} LIKE '%-%-%' OR {ref} LIKE '%.%.%' OR (contains({ref}, '-') AND contains({ref}, '.'))"
    )
    gates.append(f"({marks} OR {separators})")
    return " AND ".join(gates)


def value_scan_sql(
    file_name: str, relation: str, columns: Sequence[str], refs: Sequence[str] | None = None,
    group: str | None = None, extra: Mapping[int, Callable[[str], str]] | None = None,
) -> tuple[str, list[tuple[int, str]]]:
    """The one aggregate query of `scan_values` and, per (count, first line) pair, (column index, kind).

    `columns` are the delivered names (they choose the patterns: free text is scanned loosely),
    `refs` the same columns' names in `relation` (the load names unknown columns by position).
    Layers: each column renamed c<i>; a<i> = "may match any pattern" (cheap gate, then one
    RE2 pass over all patterns, about five times cheaper than a pass per kind); per-kind
    flags only where a<i> is set (CASE is evaluated lazily); then the aggregates.

    `group`: a column of `relation` to aggregate by (the load scans many files at once); it
    comes first in each result row. `extra`: more checks folded into the same pass, column
    index -> a predicate of that column's value (the id shapes); each adds a (count, first
    line) pair after the PHI slots, in the order of `extra`, with kind `extra`.
    """
    renamed: list[str] = []
    prefilters: list[str] = []
    flags: list[str] = []
    aggregates: list[str] = []
    slots: list[tuple[int, str]] = []
    kept = [group] if group else []
    for index, column in enumerate(columns):
        col = _contract_column(file_name, column)
        ref = f"c{index}"
        renamed.append(f"{q(refs[index] if refs else column)} AS {ref}")
        strict = not _is_free_text(col)
        patterns = STRICT_PATTERNS if strict else LOOSE_PATTERNS
        combined = "|".join(f"(?:{p})" for p in patterns.values())
        gate = _gate_expr(ref, col, strict)
        any_match = f"regexp_matches({ref}, {lit(combined)})"
        prefilters.append(f"{ref}, CASE WHEN {gate} THEN {any_match} END AS a{index}")
        for kind, pattern in patterns.items():
            flag = f"f{len(slots)}"
            flags.append(f"CASE WHEN a{index} THEN regexp_matches({ref}, {lit(pattern)}) END AS {flag}")
            aggregates.append(f"count_if({flag}), min(CASE WHEN {flag} THEN line_number END)")
            slots.append((index, kind))
    for n, (index, predicate) in enumerate((extra or {}).items()):
        flags.append(f"{predicate(f'c{index}')} AS x{n}")
        aggregates.append(f"count_if(x{n}), min(CASE WHEN x{n} THEN line_number END)")
        slots.append((index, "extra"))
    carried = "".join(f"{q(c)}, " for c in kept)
    sql = (
        f"SELECT {carried}{', '.join(aggregates)} FROM ("
        f"SELECT {carried}{', '.join(flags)}, line_number FROM ("
        f"SELECT {carried}{', '.join(prefilters)}, line_number FROM ("
        f"SELECT {carried}{', '.join(renamed)}, line_number FROM {relation})))"
        + (" GROUP BY ALL" if kept else "")
    )
    return sql, slots


def findings_of(file_name: str, columns: Sequence[str], slots: Sequence[tuple[int, str]],
                counts: Sequence[object]) -> tuple[PhiFinding, ...]:
    """The findings of one result row of `value_scan_sql` (without its group column)."""
    findings: list[PhiFinding] = []
    for n, (index, kind) in enumerate(slots):
        count, first = counts[2 * n], counts[2 * n + 1]
        if count and kind != "extra":
            column = shown_column(columns[index], index + 1)
            findings.append(PhiFinding(file_name, column, kind, "values", int(count), int(first)))
    return tuple(findings)


def scan_values(
    con: duckdb.DuckDBPyConnection, file_name: str, relation: str, columns: Sequence[str],
    refs: Sequence[str] | None = None,
) -> tuple[PhiFinding, ...]:
    """Count identifier-looking values per column in one query; return counts and first lines only.

    `refs`: the columns' names in `relation` when they differ from the delivered `columns`."""
    if not columns:
        return ()
    sql, slots = value_scan_sql(file_name, relation, columns, refs)
    row = con.execute(sql).fetchone()
    return () if row is None else findings_of(file_name, columns, slots, row)
