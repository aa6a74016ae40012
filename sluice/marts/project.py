"""The models in marts/: loaded, checked and ordered before any Spark job starts.

Dependencies come from the tables each model's SQL reads (parsed with sqlglot) plus the tables its relationships
tests look up; nothing else lists them. Every problem a build would otherwise hit late is an error here, naming
the file and the fix: YAML that does not match the format, unparsable SQL, an unknown table, a cycle, output
columns that differ from the YAML, tests or unit tests naming columns or tables that do not exist.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

import pydantic
import sqlglot
import yaml
from sqlglot import exp

from sluice import lake
from sluice.marts.spec import ModelSpec, Source, SourcesSpec
from sluice.settings import REPO_ROOT

MODELS_ROOT = REPO_ROOT / "marts"
LAYERS = lake.LAYERS  # marts/<layer>/ here, <layer>/<model> in the lake
DIALECT = "spark"
PARTITION_PLACEHOLDER = "ds"
SOURCE_COLUMNS = tuple(name for name, _ in lake.RAW_SPARK_COLUMNS)  # what a model reads of a source


class ProjectError(ValueError):
    """The models cannot be built as written; the message names the file and what to change."""


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    sql_path: Path
    spec: ModelSpec
    tree: exp.Query = field(repr=False)
    reads: frozenset[str]  # tables the SQL reads, itself excluded
    reads_own_past: bool  # the SQL reads its own earlier partitions: dates must be built in order

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.spec.columns)

    @cached_property
    def relationship_targets(self) -> frozenset[str]:
        return frozenset(t.relationships.to for c in self.spec.columns for t in c.tests if t.relationships)

    @property
    def upstream(self) -> frozenset[str]:
        return self.reads | (self.relationship_targets - {self.name})

    def render(self, ds: date, dialect: str = DIALECT) -> str:
        """The SQL for one partition, with `:ds` replaced by the date."""
        literal = exp.cast(exp.Literal.string(ds.isoformat()), exp.DataType.Type.DATE)
        return exp.replace_placeholders(self.tree.copy(), **{PARTITION_PLACEHOLDER: literal}).sql(dialect)


@dataclass(frozen=True)
class External:
    """A table another system writes (`written_by` in its YAML), declared so that models can read it."""

    name: str
    layer: str
    yaml_path: Path
    spec: ModelSpec

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.spec.columns)


@dataclass(frozen=True)
class Project:
    root: Path
    sources: dict[str, Source]
    models: dict[str, Model]  # in dependency order
    externals: dict[str, External]

    def table(self, name: str) -> Model | External:
        """A table of the catalog: a model, or an external table models read."""
        return self.externals[name] if name in self.externals else self.model(name)

    def model(self, name: str) -> Model:
        if name not in self.models:
            raise ProjectError(f"no model named {name!r} in {self.root}; `sluice marts list` shows them")
        return self.models[name]

    @property
    def marts(self) -> list[Model]:
        """The published marts (marts/marts/): what analysts and downstream DAGs read."""
        return [model for model in self.models.values() if model.layer == "marts"]

    def columns_of(self, table: str) -> tuple[str, ...]:
        return SOURCE_COLUMNS if table in self.sources else self.table(table).columns

    def downstream(self, name: str) -> frozenset[str]:
        return frozenset(m.name for m in self.models.values() if name in m.upstream)

    def select(self, names: Iterable[str], *, upstream: bool = False, downstream: bool = False) -> list[str]:
        """The named models, with all their upstream and/or downstream models, in dependency order."""
        chosen = {self.model(name).name for name in names}
        frontier = set(chosen)
        while frontier:
            name = frontier.pop()
            near = (self.models[name].upstream & self.models.keys() if upstream else set()) | (
                self.downstream(name) if downstream else set()
            )
            frontier |= near - chosen
            chosen |= near
        return [name for name in self.models if name in chosen]


def _read_yaml(path: Path) -> object:
    """YAML through libyaml: the pure-Python loader took most of a project load (and of the DAG file's parse)."""
    return yaml.load(path.read_text(), Loader=yaml.CSafeLoader)


def load_project(root: Path = MODELS_ROOT) -> Project:
    sources = _load_sources(root / "sources.yml")
    models = {model.name: model for model in _load_models(root)}
    externals = {external.name: external for external in _load_externals(root)}
    if clash := sources.keys() & models.keys():
        raise ProjectError(f"{sorted(clash)} are both sources and models; rename the models")
    known = sources.keys() | models.keys() | externals.keys()
    for model in models.values():
        _check_references(model, known, root)
    ordered = {name: models[name] for name in _dependency_order(models, root)}
    project = Project(root, sources, ordered, externals)
    for model in project.models.values():
        _check_tests(model, project)
    return project


def _load_sources(path: Path) -> dict[str, Source]:
    try:
        return SourcesSpec.model_validate(_read_yaml(path)).sources
    except FileNotFoundError:
        raise ProjectError(f"{path} is missing: it names the raw topics models read") from None
    except (yaml.YAMLError, pydantic.ValidationError) as err:
        raise ProjectError(f"{path}: {err}") from None


def _load_models(root: Path) -> Iterator[Model]:
    seen: dict[str, Path] = {}
    for layer in LAYERS:
        for sql_path in sorted((root / layer).glob("*.sql")):
            if (other := seen.get(sql_path.stem)) is not None:
                raise ProjectError(f"{sql_path} and {other} define the same model name {sql_path.stem!r}")
            seen[sql_path.stem] = sql_path
            yield _load_model(sql_path, layer)
    if not seen:
        raise ProjectError(f"no models under {root}/{{{','.join(LAYERS)}}}/*.sql")


def _load_externals(root: Path) -> Iterator[External]:
    """YAML files without SQL beside them: tables other systems write, which must say which (`written_by`)."""
    for layer in LAYERS:
        for yaml_path in sorted((root / layer).glob("*.yml")):
            if yaml_path.with_suffix(".sql").exists():
                continue
            spec = _load_spec(yaml_path, yaml_path.with_suffix(".sql"))
            if spec.written_by is None:
                raise ProjectError(f"{yaml_path} has no SQL beside it; add {yaml_path.stem}.sql, or name the system "
                                   "that writes the table in `written_by`")  # fmt: skip
            if spec.tests or spec.unit_tests or any(c.tests for c in spec.columns):
                raise ProjectError(f"{yaml_path}: a table written by {spec.written_by} is checked by its writer; "
                                   "remove its tests")  # fmt: skip
            yield External(yaml_path.stem, layer, yaml_path, spec)


def _load_spec(yaml_path: Path, sql_path: Path) -> ModelSpec:
    try:
        return ModelSpec.model_validate(_read_yaml(yaml_path))
    except FileNotFoundError:
        raise ProjectError(f"{sql_path} has no {yaml_path.name} beside it (description, columns, tests)") from None
    except (yaml.YAMLError, pydantic.ValidationError) as err:
        raise ProjectError(f"{yaml_path}: {err}") from None


def _load_model(sql_path: Path, layer: str) -> Model:
    yaml_path = sql_path.with_suffix(".yml")
    spec = _load_spec(yaml_path, sql_path)
    if spec.written_by is not None:
        raise ProjectError(f"{yaml_path} says {spec.written_by} writes the table, but {sql_path.name} builds it; "
                           "drop one")  # fmt: skip
    tree = _parse(sql_path)
    name = sql_path.stem
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = {table.name for table in tree.find_all(exp.Table)} - ctes
    _check_columns(sql_path, tree, spec)
    _check_metrics(yaml_path, spec)
    return Model(name, layer, sql_path, spec, tree, frozenset(tables - {name}), name in tables)


def _parse(sql_path: Path) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(sql_path.read_text(), read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as err:
        raise ProjectError(f"{sql_path}: cannot parse as Spark SQL: {err}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ProjectError(f"{sql_path}: a model is exactly one select statement")
    tree = statements[0]
    placeholders = {p.name for p in tree.find_all(exp.Placeholder)}
    if placeholders != {PARTITION_PLACEHOLDER}:
        raise ProjectError(
            f"{sql_path}: uses placeholders {sorted(placeholders)}; a model reads its partition date as "
            f":{PARTITION_PLACEHOLDER} and nothing else"
        )
    return tree


def _check_columns(sql_path: Path, tree: exp.Query, spec: ModelSpec) -> None:
    if tree.is_star:
        raise ProjectError(f"{sql_path}: list the output columns instead of `*`, as in the YAML")
    selected = tuple(tree.named_selects)
    declared = tuple(c.name for c in spec.columns)
    if selected != declared:
        raise ProjectError(
            f"{sql_path}: selects {list(selected)} but {sql_path.with_suffix('.yml').name} declares "
            f"{list(declared)}; make them the same names in the same order"
        )


def _check_metrics(yaml_path: Path, spec: ModelSpec) -> None:
    columns = {c.name for c in spec.columns}
    for metric in spec.metrics:
        where = f"{yaml_path}: metric {metric.name!r} ({metric.expression!r})"
        try:
            expression = sqlglot.parse_one(metric.expression, read=DIALECT)
        except sqlglot.errors.ParseError as err:
            raise ProjectError(f"{where} is not Spark SQL: {err}") from None
        if unknown := {c.name for c in expression.find_all(exp.Column)} - columns:
            raise ProjectError(f"{where} names columns {sorted(unknown)} that the model does not have")
        if not any(expression.find_all(exp.AggFunc)):
            raise ProjectError(f"{where} aggregates nothing; a metric is e.g. sum(x) or sum(a) / nullif(sum(b), 0)")
    if len({m.name for m in spec.metrics}) != len(spec.metrics):
        raise ProjectError(f"{yaml_path}: two metrics have the same name")


def _check_references(model: Model, known: set[str], root: Path) -> None:
    if unknown := model.reads - known:
        raise ProjectError(
            f"{model.sql_path} reads {sorted(unknown)}, which are neither models (or external tables) under {root} "
            "nor sources in sources.yml; fix the name or add the model"
        )
    if unknown := model.relationship_targets - known:
        raise ProjectError(f"{model.sql_path.with_suffix('.yml')}: relationships to unknown tables {sorted(unknown)}")


def _dependency_order(models: dict[str, Model], root: Path) -> list[str]:
    graph = {name: sorted(model.upstream & models.keys()) for name, model in models.items()}
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        cycle = " -> ".join(err.args[1])  # in the direction data flows
        raise ProjectError(f"models under {root} form a cycle: {cycle}; a model may read only its own past") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())  # sorted, so the order is the same on every machine
        order.extend(ready)
        sorter.done(*ready)
    return order


def _check_tests(model: Model, project: Project) -> None:
    yaml_path = model.sql_path.with_suffix(".yml")
    columns = set(model.columns)
    for test in model.spec.tests:
        named = (
            test.unique_combination.columns if test.unique_combination
            else (test.freshness.column,) if test.freshness else ()
        )  # fmt: skip
        if missing := [c for c in named if c not in columns]:
            raise ProjectError(f"{yaml_path}: test {test.kind} names columns {missing} that the model does not have")
    for column in model.spec.columns:
        for rel in (t.relationships for t in column.tests if t.relationships):
            if rel.field not in project.columns_of(rel.to):
                raise ProjectError(f"{yaml_path}: column {column.name} relates to {rel.to}.{rel.field}, which does "
                                   f"not exist; {rel.to} has {list(project.columns_of(rel.to))}")  # fmt: skip
    for unit in model.spec.unit_tests:
        given = set(unit.given) - {model.name}
        if extra := given - model.upstream:
            raise ProjectError(f"{yaml_path}: unit test {unit.name!r} gives {sorted(extra)}, which the model does "
                               f"not read (it reads {sorted(model.upstream)})")  # fmt: skip
        for table, rows in unit.given.items():
            _check_row_keys(yaml_path, unit.name, table, rows, project.columns_of(table))
        _check_row_keys(yaml_path, unit.name, "expect", unit.expect, model.columns)


def _check_row_keys(
    yaml_path: Path, test: str, table: str, rows: Iterable[dict[str, object]], columns: Iterable[str]
) -> None:
    if unknown := {key for row in rows for key in row} - set(columns):
        raise ProjectError(f"{yaml_path}: unit test {test!r} names columns {sorted(unknown)} that {table} lacks")
