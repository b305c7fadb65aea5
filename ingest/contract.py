"""The data contract (``shared/spec/data-contract.md``) as data.

One :class:`Table` per contract table: its columns with type, whether
required, enum values, and foreign keys. The reader/validator, the generator,
the Neo4j loader and the tests all read the contract from here, never from a
second copy.

In-memory dtypes after validation (what every detector can rely on):

=========  =====================================================
type       pandas representation
=========  =====================================================
str, enum  object (Python ``str``), missing = ``None``
int        ``Int64`` (nullable)
money,dec  ``float64``, missing = NaN
bool       ``boolean`` (nullable)
date       ``datetime64[ns]`` (midnight), missing = NaT
timestamp  ``datetime64[ns]`` naive, Asia/Shanghai local time
list       object: a ``tuple`` of ``str`` (empty tuple when unknown)
vector     object: ``numpy.ndarray`` float32 of shape (128,), or None
=========  =====================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Column", "Table", "TABLES", "CONTRACT_TABLES", "REQUIRED_TABLES", "OPTIONAL_TABLES", "LOAD_ORDER",
           "SCHEMES"]

from ringscope.ingest.vocab import SCHEMES  # noqa: E402  (one copy of the scheme names)


@dataclass(frozen=True)
class Column:
    name: str
    type: str                       # str enum int money decimal bool date timestamp list vector
    required: bool = False
    enum: tuple[str, ...] = ()
    references: str | None = None   # "table.column"
    nonnegative: bool = False
    one_of_group: str | None = None  # at least one column of the group must be set


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: str | None = None           # unique id column
    required: bool = True
    composite_key: tuple[str, ...] = field(default=())
    extension: bool = False          # beyond the data contract: read when a dataset has it, never expected

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name}")

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


C = Column

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("institutions", (
            C("institution_id", "str", True),
            C("name", "str"),
            C("kind", "enum", True, ("hospital", "clinic", "community", "pharmacy")),
            C("level", "int"),
            C("ownership", "enum", False, ("public", "private")),
            C("district", "str"),
            C("has_face_terminal", "bool"),
        ), key="institution_id"),
        Table("physicians", (
            C("physician_id", "str", True),
            C("institution_id", "str", True, references="institutions.institution_id"),
            C("name", "str"),
            C("specialty", "str"),
        ), key="physician_id"),
        Table("persons", (
            C("person_id", "str", True),
            C("sex", "enum", True, ("M", "F")),
            C("birth_date", "date", True),
            C("name", "str"),
            C("id_number", "str"),
            C("district", "str"),
            C("insurance_type", "enum", False, ("employee", "resident")),
            C("chronic_conditions", "list"),
            C("death_date", "date"),
        ), key="person_id"),
        Table("catalog", (
            C("item_code", "str", True),
            C("name", "str", True),
            C("item_type", "enum", True, ("drug", "service", "material", "non_medical")),
            C("insurance_class", "enum", False, ("A", "B", "C")),
            C("price_cap", "money", nonnegative=True),
            C("sex_limit", "enum", False, ("M", "F")),
            C("age_min", "int", nonnegative=True),
            C("age_max", "int", nonnegative=True),
            C("indication_prefixes", "list"),
            C("max_days_supply", "int", nonnegative=True),
            C("max_qty_per_visit", "decimal", nonnegative=True),
        ), key="item_code"),
        Table("visits", (
            C("visit_id", "str", True),
            C("person_id", "str", True, references="persons.person_id"),
            C("institution_id", "str", True, references="institutions.institution_id"),
            C("physician_id", "str", references="physicians.physician_id"),
            C("visit_type", "enum", True, ("outpatient", "inpatient", "pharmacy")),
            C("start_time", "timestamp", True),
            C("end_time", "timestamp"),
            C("diagnosis_codes", "list"),
            C("total_amount", "money", True, nonnegative=True),
            C("fund_paid", "money", nonnegative=True),
            C("account_paid", "money", nonnegative=True),
            C("payer_person_id", "str", references="persons.person_id"),
            C("terminal_id", "str"),
        ), key="visit_id"),
        Table("claim_lines", (
            C("line_id", "str", True),
            C("visit_id", "str", True, references="visits.visit_id"),
            C("item_code", "str", True, references="catalog.item_code"),
            C("quantity", "decimal", True),
            C("unit_price", "money", True, nonnegative=True),
            C("amount", "money", True),
            C("days_supply", "int", nonnegative=True),
            C("physician_id", "str", references="physicians.physician_id"),
            C("service_time", "timestamp"),
        ), key="line_id"),
        Table("face_enrollments", (
            C("person_id", "str", True, references="persons.person_id"),
            C("encoding", "vector", one_of_group="face"),
            C("image_path", "str", one_of_group="face"),
        ), key=None, required=False),
        Table("face_captures", (
            C("capture_id", "str", True),
            C("institution_id", "str", True, references="institutions.institution_id"),
            C("location", "enum", True, ("entrance", "settlement", "ward")),
            C("capture_time", "timestamp", True),
            C("encoding", "vector", one_of_group="face"),
            C("image_path", "str", one_of_group="face"),
            C("visit_id", "str", references="visits.visit_id"),
            C("claimed_person_id", "str", references="persons.person_id"),
        ), key="capture_id", required=False),
        Table("inventory", (
            C("institution_id", "str", True, references="institutions.institution_id"),
            C("item_code", "str", True, references="catalog.item_code"),
            C("period", "str", True),
            C("qty_purchased", "decimal", True, nonnegative=True),
            C("qty_opening", "decimal", nonnegative=True),
            C("qty_closing", "decimal", nonnegative=True),
        ), key=None, required=False, composite_key=("institution_id", "item_code", "period")),
        Table("family_links", (
            C("person_id", "str", True, references="persons.person_id"),
            C("related_person_id", "str", True, references="persons.person_id"),
            C("relation", "str"),
        ), key=None, required=False, composite_key=("person_id", "related_person_id", "relation")),
        Table("drug_traces", (
            C("line_id", "str", True, references="claim_lines.line_id"),
            C("trace_code", "str", True),
            C("scan_time", "timestamp"),
            C("reversed", "bool"),
        ), key=None, required=False),
        # beyond the contract (which lets a dataset carry more): the city's declared prescribing
        # scope, read by R-MED-016; without it the specialty rule R-MED-011 falls back on peers
        Table("prescribing_scope", (
            C("specialty", "str", True),
            C("item_prefix", "str", True),
            C("basis", "enum", False, ("catalogue", "practice")),
        ), key=None, required=False, composite_key=("specialty", "item_prefix", "basis"), extension=True),
        Table("known_cases", (
            C("case_id", "str", True),
            C("entity_type", "enum", True, ("person", "physician", "institution")),
            C("entity_id", "str", True),
            C("label", "enum", True, ("fraud", "cleared")),
            C("scheme", "str"),
            C("closed_on", "date"),
        ), key="case_id", required=False),
    ]
}

REQUIRED_TABLES = [n for n, t in TABLES.items() if t.required]
# the tables of shared/spec/data-contract.md (TABLES adds the extensions the project also reads)
CONTRACT_TABLES = [n for n, t in TABLES.items() if not t.extension]
OPTIONAL_TABLES = [n for n, t in TABLES.items() if not t.required]
# Parents before children, so foreign keys can be checked in one pass.
LOAD_ORDER = [
    "institutions", "physicians", "persons", "catalog", "visits", "claim_lines",
    "face_enrollments", "face_captures", "inventory", "family_links", "drug_traces", "prescribing_scope",
    "known_cases",
]

# Output files of `detect` (section 2 of the contract).
RULE_HITS_COLUMNS = ["hit_id", "rule_id", "rule_name", "severity", "rule_class", "entity_type", "entity_id",
                     "visit_id", "amount_at_risk", "evidence"]
ENTITY_SCORES_COLUMNS = ["entity_type", "entity_id", "score", "reasons"]
LEADS_COLUMNS = ["lead_id", "scheme", "score", "amount_at_risk", "members", "summary"]
WARNINGS_COLUMNS = ["warning_id", "entity_type", "entity_id", "indicator", "period", "value", "baseline", "level",
                    "evidence"]
LOAD_REPORT_COLUMNS = ["table", "rows_read", "accepted", "quarantined"]
QUARANTINE_COLUMNS = ["table", "row_number", "key", "column", "reason"]
TRUTH_FILES = {
    "rings": ["ring_id", "scheme", "members"],
    "entities": ["entity_type", "entity_id", "scheme", "ring_id"],
    "violations": ["visit_id", "line_id", "scheme_or_rule"],
}
# optional truth files (present only when the generator planted them)
OPTIONAL_TRUTH_FILES = {
    "drift": ["entity_type", "entity_id", "indicator", "first_period"],
}
