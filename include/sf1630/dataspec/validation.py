"""Validating a file against its data spec with GX: the suite runs in GX Core, and the results are GX's.

Two engines, one report shape. The receiver validates a file where it lies after staging
(:meth:`Validator.validate_staged`): the file is a text table in PostgreSQL
(:mod:`sf1630.warehouse.staging`) and GX's SQL engine runs the spec's staging suite there
(:func:`~sf1630.dataspec.suite.staging_configs`), so no row enters the task's memory. Without a warehouse
(``sf1630 dataspec check``) the file is read into a pandas frame and GX's pandas engine runs the typed
suite, as described below; memory is then about 8× the file.

The file is read into a text frame first (:mod:`sf1630.dataspec.parsing`: only what stops a frame from being
built); every value check is then an expectation of the spec's suite
(:func:`sf1630.dataspec.suite.build_suite`) run by GX over an ephemeral context, through a
ValidationDefinition. The project evaluates no expectation itself.

How a wrong value becomes a failed expectation: each column is cast to its spec type (the spec's exact
formats, a date or time must print back as written). A column whose every text parsed goes to GX typed; a
column with any text that is not of the type goes to GX as an ``object`` column holding the parsed values
and, where a text did not parse, the text itself, so ``expect_column_values_to_be_of_type`` fails with those
texts as its unexpected values (column and samples named, like every other failure), and GX's other
expectations on that column say what they can.

Cost, by GX's own knobs: a :class:`Validator` keeps one context per process (GX's import is seconds), so a
task validates every file of a run with one import; each file is validated with
``result_format="BOOLEAN_ONLY"`` first and only the expectations that failed run again with ``SUMMARY`` and
a few samples, whose results replace the cheap ones in the ValidationResult that is kept (the column-list
expectations too, whose observed columns Data Docs need: on the header alone, zero rows, when nothing
failed). GX 1.24 fingerprints every pandas frame smaller than 1 GB for its batch markers
(``hash_pandas_dataframe``) and offers no setting to turn that off; the project does not patch it, so the
second pass pays it again, and only for a file that failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from sf1630.database import Database
from sf1630.dataspec.ddl import Calendar
from sf1630.dataspec.parsing import ParseFailure, first_line, read_regular_file, read_text_frame
from sf1630.dataspec.report import SAMPLE_SIZE, STANDS_FOR, CheckResult, ValidationReport
from sf1630.dataspec.schema import lexical_pattern, parse_expression
from sf1630.dataspec.spec import DataSpec
from sf1630.dataspec.suite import (
    Expectation,
    expectation_configs,
    gx_context,
    gx_suite,
    staging_configs,
)

#: What the cheap first pass asks GX for, and what the second pass asks for the failed expectations.
CHEAP_RESULT_FORMAT = "BOOLEAN_ONLY"
DETAIL_RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}


@dataclass(frozen=True)
class Validated:
    """One file's verdict: the short report (log, summary page) and, when GX ran, its ValidationResult.

    ``result`` is GX's ``ExpectationSuiteValidationResult`` (None when the file could not be parsed: then
    ``report`` holds the ``parse.*`` entry that says why); ``key`` is its identifier in the context's
    validation results store, which Data Docs are built from.
    """

    report: ValidationReport
    result: Any = None
    key: Any = None
    suite: str = ""

    @property
    def success(self) -> bool:
        """True when the file parsed and every expectation held."""
        return self.report.success

    @property
    def summary(self) -> str:
        """The few lines a task log gets."""
        return "\n".join(self.report.summary_lines())

    def result_json(self) -> str:
        """The ValidationResult as GX writes it (``to_json_dict``); the parse report when GX never ran."""
        if self.result is None:
            return self.report.to_json()
        return json.dumps(self.result.to_json_dict(), ensure_ascii=False, indent=2, default=str)


#: The ValidationDefinition each context holds under each name, with the fingerprint of its expectations;
#: shared by every Validator on a context (there is one per process), because one that replaces a suite
#: leaves the definitions other Validators kept pointing at a deleted suite (GX's freshness error).
_STORED: dict[tuple[int, str], tuple[str, Any]] = {}


@dataclass
class Validator:
    """GX validation of many files in one process: one context, one import; a pandas datasource (an asset
    per spec) and a PostgreSQL datasource per warehouse schema (an asset per staging table)."""

    context: Any = field(default_factory=gx_context)
    _sites: int = 0

    def validate_file(self, path: Path, spec: DataSpec, *, extra: Sequence[Expectation] = ()) -> Validated:
        """Validate ``path`` (a regular file, else OSError) against ``spec`` plus ``extra`` expectations."""
        return self.validate_bytes(read_regular_file(path), spec, name=path.name, extra=extra)

    def validate_bytes(
        self, data: bytes, spec: DataSpec, *, name: str, extra: Sequence[Expectation] = ()
    ) -> Validated:
        """Validate file content ``data`` called ``name``; ``extra`` joins the spec's suite for this file."""
        try:
            raw, parse_results = read_text_frame(data, spec)
        except ParseFailure as failure:
            return Validated(ValidationReport(spec.name, name, None, (failure.result,)))
        del data
        rows = raw.height
        frame = gx_frame(raw, spec)
        del raw
        result, key, suite = self._run(frame, spec, name, extra)
        results = tuple(parse_results) + tuple(check_result(r) for r in result.results)
        return Validated(ValidationReport(spec.name, name, rows, results), result, key, suite)

    def _run(
        self, frame: Any, spec: DataSpec, name: str, extra: Sequence[Expectation]
    ) -> tuple[Any, Any, str]:
        suite_name = f"sf1630.{spec.name}" + (".delivery" if extra else "")
        configs = [*expectation_configs(spec), *extra]
        return self._two_passes(suite_name, configs, name, _FrameBatch(self, spec, frame))

    def validate_staged(
        self,
        db: Database,
        table: str,
        spec: DataSpec,
        *,
        name: str,
        rows: int,
        parse_results: Sequence[CheckResult],
        extra: Sequence[Expectation] = (),
        calendar: Calendar = Calendar.PATTERN,
    ) -> Validated:
        """Validate a file staged as text in ``db``'s ``table`` (:mod:`sf1630.warehouse.staging`) with the
        spec's staging suite (:func:`~sf1630.dataspec.suite.staging_configs`, dates checked by ``calendar``)
        plus ``extra``, run by GX's SQL engine in PostgreSQL: no row enters this process."""
        suite_name = f"sf1630.{spec.name}.{table}"
        configs = staging_configs(spec, extra, calendar=calendar)
        result, key, suite = self._two_passes(suite_name, configs, name, _TableBatch(self, db, table))
        results = tuple(parse_results) + tuple(check_result(r) for r in result.results)
        return Validated(ValidationReport(spec.name, name, rows, results), result, key, suite)

    def _two_passes(
        self, suite_name: str, configs: list[Expectation], name: str, batch: _Batch
    ) -> tuple[Any, Any, str]:
        """BOOLEAN_ONLY over everything, then details for what failed (see the module docstring)."""
        from great_expectations.core.run_identifier import RunIdentifier

        definition = self._definition(suite_name, batch.definition(), configs)
        run_id = RunIdentifier(run_name=name, run_time=datetime.now(UTC))
        result = definition.run(
            batch_parameters=batch.parameters(), result_format=CHEAP_RESULT_FORMAT, run_id=run_id
        )
        key = self._key(run_id)
        failed = [r.expectation_config for r in result.results if not r.success]
        # Data Docs render a page from the observed column list, which BOOLEAN_ONLY leaves out: the column
        # expectations run again with details, on the header alone (zero rows) when nothing else failed.
        columns = [
            r.expectation_config
            for r in result.results
            if r.success and r.expectation_config.type in _COLUMN_LIST_EXPECTATIONS
        ]
        detailed = self._details(batch, suite_name, failed, columns)
        result.results = [detailed.get(_identity(r.expectation_config), r) for r in result.results]
        _recount(result)
        if key is not None:
            self.context.validation_results_store.set(key, result)
        return result, key, suite_name

    def _details(
        self, batch: _Batch, suite_name: str, failed: list[Any], columns: list[Any]
    ) -> dict[str, Any]:
        """Run only the failed expectations again, asking for counts and samples (and the column lists);
        their results by the identity of their expectation."""
        configs = [(c.type, _kwargs(c, with_meta=True)) for c in [*failed, *columns]]
        if not configs:
            return {}
        head = not failed  # nothing failed: the column lists need only the header
        definition = self._definition(f"{suite_name}.failed", batch.definition(), configs)
        detailed = definition.run(
            batch_parameters=batch.parameters(head=head), result_format=DETAIL_RESULT_FORMAT
        )
        return {_identity(r.expectation_config): r for r in detailed.results}

    def _definition(self, name: str, data: Any, configs: list[Expectation]) -> Any:
        """The context's ValidationDefinition ``name`` over these expectations, stored anew only when they
        changed: GX's ``add_or_update`` compares every stored expectation with every new one (seconds per
        file on a spec's suite), while a delete and an add cost a few milliseconds."""
        import great_expectations as gx
        from great_expectations.exceptions.exceptions import DataContextError

        fingerprint = json.dumps(
            [configs, getattr(data, "id", None) or id(data)], sort_keys=True, default=str
        )
        stored = (id(self.context), name)
        known = _STORED.get(stored)
        if known is not None and known[0] == fingerprint:
            return known[1]
        with contextlib.suppress(DataContextError):  # stored by another Validator on this context, or never
            self.context.validation_definitions.delete(name)
        with contextlib.suppress(DataContextError):
            self.context.suites.delete(name)
        suite = self.context.suites.add(gx_suite(name, configs))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=data, suite=suite)
        )
        _STORED[stored] = (fingerprint, definition)
        return definition

    def _table_definition(self, db: Database, table: str) -> Any:
        """The whole-table batch of staging ``table`` in ``db``, through GX's PostgreSQL data source (one
        per database; one table asset per staging table)."""
        where = f"{db.dsn}\n{db.options}\n{db.schema}"  # the schema is the connection's search path too
        source_name = "sf1630_pg_" + hashlib.sha256(where.encode()).hexdigest()[:12]
        try:
            source = self.context.data_sources.get(source_name)
        except KeyError:
            source = self.context.data_sources.add_postgres(source_name, connection_string=sqlalchemy_url(db))
        names = {asset.name for asset in source.assets}
        if table in names:
            asset = source.get_asset(table)
        else:
            asset = source.add_table_asset(table, table_name=table, schema_name=db.schema)
        try:
            return asset.get_batch_definition("whole")
        except KeyError:
            return asset.add_batch_definition_whole_table("whole")

    def _batch_definition(self, spec: DataSpec) -> Any:
        """The whole-frame batch of the spec's asset; the data source is made once (replacing it would
        make every stored ValidationDefinition stale)."""
        try:
            source = self.context.data_sources.get("sf1630")
        except KeyError:
            source = self.context.data_sources.add_pandas("sf1630")
        names = {asset.name for asset in source.assets}
        asset = source.get_asset(spec.name) if spec.name in names else source.add_dataframe_asset(spec.name)
        try:
            return asset.get_batch_definition("whole")
        except KeyError:
            return asset.add_batch_definition_whole_dataframe("whole")

    def _key(self, run_id: Any) -> Any:
        keys = [k for k in self.context.validation_results_store.list_keys() if k.run_id == run_id]
        return keys[0] if keys else None

    def data_docs(self, validated: Validated, folder: Path) -> Path | None:
        """Build GX Data Docs for this one ValidationResult (and its suite) into local ``folder``.

        A site of its own per file: GX's index lists the pages found in the site's folder, so the site shows
        exactly this delivery and can be copied anywhere (object storage, the quarantine) as a whole.
        Returns the site's ``index.html`` (None when GX never ran on the file). GX's templates are compiled
        once per process (:mod:`sf1630.dataspec.datadocs`).
        """
        if validated.key is None:
            return None
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        from sf1630.dataspec.datadocs import site_config

        self._sites += 1
        site = f"sf1630_site_{self._sites}"
        self.context.add_data_docs_site(site_name=site, site_config=site_config(str(folder)))
        try:
            identifiers = [validated.key, ExpectationSuiteIdentifier(name=validated.suite)]
            self.context.build_data_docs(site_names=[site], resource_identifiers=identifiers)
        finally:
            self.context.delete_data_docs_site(site)
        return folder / "index.html"


class _Batch(Protocol):
    """What a validation runs on: a batch definition and its parameters (the frame, for pandas)."""

    def definition(self) -> Any: ...
    def parameters(self, *, head: bool = False) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _FrameBatch:
    validator: Validator
    spec: DataSpec
    frame: Any

    def definition(self) -> Any:
        return self.validator._batch_definition(self.spec)

    def parameters(self, *, head: bool = False) -> dict[str, Any]:
        return {"dataframe": self.frame.iloc[:0] if head else self.frame}


@dataclass(frozen=True)
class _TableBatch:
    validator: Validator
    db: Database
    table: str

    def definition(self) -> Any:
        return self.validator._table_definition(self.db, self.table)

    def parameters(self, *, head: bool = False) -> dict[str, Any]:
        return {}


GX_WORK_MEM = "64MB"


def sqlalchemy_url(db: Database) -> str:
    """The SQLAlchemy URL (psycopg 3) of a PostgreSQL database given by libpq's connection string, for GX's
    connection: a unix socket folder goes in the query, the schema in the search path (unless the
    connection has options of its own)."""
    from urllib.parse import quote, urlencode

    from psycopg.conninfo import conninfo_to_dict

    parts = {k: str(v) for k, v in conninfo_to_dict(db.dsn).items() if v is not None}
    user = quote(parts.pop("user", "postgres"), safe="")
    password = parts.pop("password", "")
    auth = user + (f":{quote(password, safe='')}" if password else "")
    dbname = quote(parts.pop("dbname", "postgres"), safe="")
    host = parts.pop("host", "127.0.0.1")
    port = parts.pop("port", "5432")
    # work_mem: GX's uniqueness checks group a whole table; the default 4 MB spills them to disk.
    query = {**parts, "options": db.options or f"-csearch_path={db.schema} -cwork_mem={GX_WORK_MEM}"}
    if host.startswith("/"):
        # GX's PostgresDsn wants a host name in the URL; libpq takes the socket folder from the query,
        # which SQLAlchemy hands to psycopg after the URL's own host, so the query's wins.
        query["host"], query["port"] = host, port
        return f"postgresql+psycopg://{auth}@localhost/{dbname}?{urlencode(query)}"
    return f"postgresql+psycopg://{auth}@{host}:{port}/{dbname}?{urlencode(query)}"


_COLUMN_LIST_EXPECTATIONS = frozenset(
    {"expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set"}
)


def _kwargs(config: Any, *, with_meta: bool = False) -> dict[str, Any]:
    """An expectation configuration's own kwargs (GX adds the batch's id to them when it runs); with its
    ``meta`` and ``description`` when it is to be made again."""
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    if with_meta:
        kwargs.update({k: v for k, v in (("meta", config.meta), ("description", config.description)) if v})
    return kwargs


def _identity(config: Any) -> str:
    return f"{config.type}:{json.dumps(_kwargs(config), sort_keys=True, default=str)}"


def gx_frame(raw: pl.DataFrame, spec: DataSpec) -> Any:
    """The pandas frame GX validates: spec columns typed where every text parsed, the others as described
    in the module docstring (typed values and the unparsed texts, ``object`` dtype); other columns text."""
    columns = {c.name: c for c in spec.columns}
    typed = [columns[n] for n in raw.columns if n in columns and lexical_pattern(columns[n], spec.dialect)]
    parsed = raw.select(parse_expression(c, spec.dialect) for c in typed)
    bad = (
        raw.select(
            (pl.col(c.name).is_not_null() & parsed[c.name].is_null()).sum().alias(c.name) for c in typed
        ).row(0, named=True)
        if typed
        else {}
    )
    clean = raw.with_columns(parsed[c.name] for c in typed if not bad[c.name])
    frame = clean.to_pandas(use_pyarrow_extension_array=True)
    for c in typed:
        if bad[c.name]:
            frame[c.name] = _mixed(raw[c.name], parsed[c.name])
    return frame


def _mixed(texts: pl.Series, values: pl.Series) -> Any:
    """An ``object`` column: the typed value where the text parsed, else the text (null stays null)."""
    import pandas as pd

    merged = [v if v is not None or t is None else t for t, v in zip(texts, values, strict=True)]
    return pd.Series(merged, dtype=object)


def _recount(result: Any) -> None:
    """GX's statistics of a ValidationResult whose results were replaced by their detailed runs."""
    done = len(result.results)
    passed = sum(1 for r in result.results if r.success)
    result.statistics.update(
        {
            "evaluated_expectations": done,
            "successful_expectations": passed,
            "unsuccessful_expectations": done - passed,
            "success_percent": 100.0 * passed / done if done else None,
        }
    )


def check_result(r: Any) -> CheckResult:
    """One GX ExpectationValidationResult in the short report's shape (for logs and the summary page)."""
    cfg = r.expectation_config
    res = r.result or {}
    detail = ""
    raised = raised_exceptions(r.exception_info)
    if raised:
        detail = "raised " + "; ".join(dict.fromkeys(first_line(Exception(m)) for m in raised))
    elif "observed_value" in res and not r.success:
        detail = f"observed {res['observed_value']!s:.200}"
    meta = cfg.meta or {}
    column = cfg.kwargs.get("column")
    sample = res.get("partial_unexpected_list") or []
    return CheckResult(
        expectation=str(meta.get(STANDS_FOR) or cfg.type),
        success=bool(r.success) and not raised,
        column=column,
        unexpected_count=int(res.get("unexpected_count") or 0),
        sample=tuple("∅" if v is None else str(v) for v in sample[:SAMPLE_SIZE]),
        detail=detail,
        kwargs={k: v for k, v in cfg.kwargs.items() if k not in ("column", "batch_id")},
    )


def raised_exceptions(info: Any) -> list[str]:
    """The messages of the exceptions GX caught while it ran one expectation (empty when none).

    GX 1.24 puts ``raised_exception`` at the top of ``exception_info`` when the expectation itself raised,
    but keys it by metric (``{"MetricConfigurationID(...)": {"raised_exception": True, ...}}``) when a
    metric did, e.g. a range check on a text column; both shapes are read.
    """
    if not isinstance(info, dict):
        return []
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return [str(e.get("exception_message") or "an exception") for e in entries if e.get("raised_exception")]


_DEFAULT: Validator | None = None


def default_validator() -> Validator:
    """This process's :class:`Validator` (created on first use: that is when GX is imported)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Validator()
    return _DEFAULT


def validate_file(path: Path, spec: DataSpec) -> ValidationReport:
    """The report on ``path`` against ``spec`` (OSError only when the file cannot be read at all)."""
    return default_validator().validate_file(path, spec).report


def validate_bytes(data: bytes, spec: DataSpec, *, name: str) -> ValidationReport:
    """The report on file content already in memory (see :func:`validate_file`)."""
    return default_validator().validate_bytes(data, spec, name=name).report


def write_reports(validator: Validator, validated: Validated, folder: Path) -> list[Path]:
    """Write a file's reports into local ``folder``: ``validation.json`` (GX's ValidationResult, or the parse
    report), ``validation.html`` (the short report as a page), ``summary.txt`` and ``datadocs/`` (GX Data
    Docs). Files and folders are created owner-only: the samples are values from the file."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for name, text in (
        ("validation.json", validated.result_json()),
        ("validation.html", validated.report.to_html()),
        ("summary.txt", "\n".join(validated.report.summary_lines()) + "\n"),
    ):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    docs = folder / "datadocs"
    shutil.rmtree(docs, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="sf1630-datadocs-") as tmp:
        index = validator.data_docs(validated, Path(tmp) / "site")
        if index is not None:
            shutil.copytree(Path(tmp) / "site", docs)
            written.append(docs / "index.html")
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(Path(root) / d, 0o700)
        for f in files:
            os.chmod(Path(root) / f, 0o600)
    return written
