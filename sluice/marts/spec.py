"""What a model's YAML may say, as pydantic types: the single definition of the format in marts/README.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPARK_TYPES = ("bigint", "int", "double", "string", "boolean", "date", "timestamp")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcceptedValues(_Strict):
    values: tuple[str | int | bool, ...] = Field(min_length=1)


class AcceptedRange(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> AcceptedRange:
        if self.min is None and self.max is None:
            raise ValueError("accepted_range needs min, max or both")
        return self


class Relationship(_Strict):
    to: str
    field: str


class UniqueCombination(_Strict):
    columns: tuple[str, ...] = Field(min_length=2)


class RowCount(_Strict):
    min: int = Field(ge=0)
    max: int | None = None


class Freshness(_Strict):
    column: str
    max_delay_hours: float = Field(gt=0)


class ColumnTest(_Strict):
    """One test on a column: a bare name (`not_null`, `unique`) or a one-key mapping with its arguments."""

    not_null: bool = False
    unique: bool = False
    accepted_values: AcceptedValues | None = None
    accepted_range: AcceptedRange | None = None
    relationships: Relationship | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if value in ("not_null", "unique"):
            return {value: True}
        if isinstance(value, str):
            raise ValueError(f"unknown column test {value!r}: use not_null, unique or a mapping")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ColumnTest:
        if len(self.model_fields_set) != 1:
            raise ValueError("each column test names exactly one of not_null, unique, accepted_values, "
                             "accepted_range, relationships")  # fmt: skip
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set))


class TableTest(_Strict):
    unique_combination: UniqueCombination | None = None
    row_count: RowCount | None = None
    freshness: Freshness | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TableTest:
        if len(self.model_fields_set) != 1:
            raise ValueError("each table test names exactly one of unique_combination, row_count, freshness")
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set))


class Column(_Strict):
    name: str
    type: Literal["bigint", "int", "double", "string", "boolean", "date", "timestamp"]
    description: str = Field(min_length=1)
    tests: tuple[ColumnTest, ...] = ()


class Metric(_Strict):
    """A measure defined once beside its model (Superset datasets get it; charts name it instead of re-typing it)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)  # what a chart shows
    expression: str = Field(min_length=1)  # one aggregate over the model's columns, in Spark SQL
    description: str = Field(min_length=1)
    format: str | None = None  # d3-format of its values, e.g. ",d" or ".1%"


class UnitTest(_Strict):
    name: str
    ds: date
    given: dict[str, tuple[dict[str, Any], ...]]
    expect: tuple[dict[str, Any], ...]


class ModelSpec(_Strict):
    description: str = Field(min_length=1)
    grain: str
    owner: str
    partition_column: Literal["dt"] = "dt"
    columns: Annotated[tuple[Column, ...], Field(min_length=1)]
    tests: tuple[TableTest, ...] = ()
    metrics: tuple[Metric, ...] = ()
    unit_tests: tuple[UnitTest, ...] = ()
    # A table another system writes (e.g. `ml/sluice_ml/nightly.py`): YAML only, no SQL; models may read it, Spark
    # never builds it, and its writer, not a gate here, checks what it writes.
    written_by: str | None = None

    @model_validator(mode="after")
    def _partition_last(self) -> ModelSpec:
        if self.columns[-1].name != self.partition_column:
            raise ValueError(f"the last column must be the partition column {self.partition_column!r}")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"columns are listed twice: {sorted({n for n in names if names.count(n) > 1})}")
        return self

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


class Source(_Strict):
    topic: str
    description: str = Field(min_length=1)


class SourcesSpec(_Strict):
    sources: dict[str, Source]
