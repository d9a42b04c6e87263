"""How each raw column crosses into Parquet and back, and the row text both sides hash.

The columns are read from the database (so a column added by a migration is archived
without a code change) and mapped by type:

- `uuid`, `text`, `jsonb`: Parquet strings (jsonb as PostgreSQL's canonical text);
- `timestamptz`: Parquet timestamps in microseconds, UTC instants;
- `numeric`: Parquet DECIMAL(38, 18), exact, beside a `<name>__scale` column holding the
  value's own scale: `10.50` and `10.5` are equal numbers, but a rollup dividing them
  (`revenue / count`) gives results of different scales, so restoring must give back
  the very value that was stored. A value with more than 18 fractional digits is
  refused (it would not survive the trip exactly);
- integers and booleans as themselves.

Checksums (checksums.py). Formula 2, what the writer records: each engine hashes the row
its own cheap way, PostgreSQL with `hash_record_extended` over the raw row (with each
number's scale, which PostgreSQL's numeric hash ignores), DuckDB with `hash()` over the
Parquet columns; the export carries PostgreSQL's row hash beside every row (RAW_HASH).
Formula 1, files written before: one canonical text per row, built here twice, once in
PostgreSQL SQL over the raw table and once in DuckDB SQL over the files, so that equal
rows give equal text: times as epoch microseconds, numbers at the archive's fixed scale
followed by `/` and their own scale (a value with a finer scale is never archived, see
above), NULL as `~` and a value as `=` + its text, joined by the unit separator.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

DECIMAL_PRECISION = 38
DECIMAL_SCALE = 18
SCALE_SUFFIX = "__scale"
# The export's last column: PostgreSQL's hash of the raw row (formula 2's raw side). Never
# written to Parquet; no raw column starts with two underscores.
RAW_HASH = "__raw_row_hash"


class UnsupportedColumnError(TypeError):
    """A raw column of a type the archive does not know how to store exactly."""


class RawTableNotFoundError(LookupError):
    """The raw table to archive does not exist."""


@dataclass(frozen=True)
class RawColumn:
    name: str
    pg_type: str
    # NOT NULL in the raw table: the row text needs no NULL test for it (see _row_text).
    not_null: bool = False

    @property
    def is_numeric(self) -> bool:
        return self.pg_type == "numeric"

    @property
    def is_time(self) -> bool:
        return self.pg_type == "timestamp with time zone"


_POLARS_TYPES: dict[str, pl.DataType] = {
    "uuid": pl.String(),
    "text": pl.String(),
    "jsonb": pl.String(),
    "timestamp with time zone": pl.Datetime("us", "UTC"),
    "numeric": pl.Decimal(DECIMAL_PRECISION, DECIMAL_SCALE),
    "smallint": pl.Int16(),
    "integer": pl.Int32(),
    "bigint": pl.Int64(),
    "boolean": pl.Boolean(),
}


def raw_columns(conn: psycopg.Connection, table: str) -> list[RawColumn]:
    """The columns of raw.<table> in table order; refuses types the archive cannot keep."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'NO' FROM information_schema.columns"
        " WHERE table_schema = 'raw' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    if not rows:
        raise RawTableNotFoundError(
            f"raw.{table} does not exist; run `analytics-platform migrate` or check the name"
        )
    columns = [RawColumn(name, pg_type, not_null) for name, pg_type, not_null in rows]
    for column in columns:
        if column.pg_type not in _POLARS_TYPES:
            raise UnsupportedColumnError(
                f"raw.{table}.{column.name} has type {column.pg_type}, which the archive "
                "cannot store exactly; add it to analytics_platform/archive/columns.py"
            )
    return columns


def export_select_list(columns: list[RawColumn]) -> sql.Composed:
    """PostgreSQL select list of export_rows.sql: what the CSV from COPY carries."""
    parts: list[sql.Composable] = []
    for c in columns:
        name = sql.Identifier(c.name)
        if c.is_time:
            parts.append(sql.SQL(_EPOCH_MICROS).format(name))
        elif c.is_numeric:
            parts.append(sql.SQL("{0}::text, scale({0})").format(name))
        elif c.pg_type in ("uuid", "jsonb"):
            parts.append(sql.SQL("{0}::text").format(name))
        else:
            parts.append(name)
    parts.append(postgres_raw_row_hash(columns))
    return sql.SQL(", ").join(parts)


# Epoch microseconds of a timestamptz. `extract(epoch ...)` is numeric arithmetic (about
# 0.15 us a value on the server); the float8 of `date_part` is exact after rounding while
# the microseconds stay well inside 53 bits (checked over 1900-2100; not by 2262), so
# times outside that range take the exact numeric path.
_EPOCH_MICROS = (
    "CASE WHEN {0} >= '1900-01-01 00:00:00+00' AND {0} < '2100-01-01 00:00:00+00'"
    " THEN round(date_part('epoch', {0}) * 1000000)::int8"
    " ELSE (extract(epoch FROM {0}) * 1000000)::int8 END"
)


def postgres_raw_row_hash(columns: list[RawColumn]) -> sql.Composed:
    """PostgreSQL: formula 2's 64-bit hash of a raw row (the columns in table order, each
    numeric followed by its scale: its hash alone does not tell 10.5 from 10.50)."""
    fields: list[sql.Composable] = []
    for c in columns:
        fields.append(sql.Identifier(c.name))
        if c.is_numeric:
            fields.append(sql.SQL("scale({0})").format(sql.Identifier(c.name)))
    return sql.SQL("hash_record_extended(ROW({0}), 0)").format(sql.SQL(", ").join(fields))


def duckdb_file_row_hash(columns: list[RawColumn]) -> str:
    """DuckDB: formula 2's 64-bit hash of an archived row (the Parquet columns, each
    numeric followed by its scale column)."""
    names: list[str] = []
    for c in columns:
        names.append(duckdb_identifier(c.name))
        if c.is_numeric:
            names.append(duckdb_identifier(c.name + SCALE_SUFFIX))
    return f"hash({', '.join(names)})"


def csv_schema(columns: list[RawColumn]) -> dict[str, pl.DataType]:
    """The polars types of the exported CSV's columns (before conversion to Parquet's)."""
    schema: dict[str, pl.DataType] = {}
    for c in columns:
        if c.is_time:
            schema[c.name] = pl.Int64()
        elif c.is_numeric:
            schema[c.name] = pl.String()
            schema[c.name + SCALE_SUFFIX] = pl.Int16()
        else:
            schema[c.name] = _POLARS_TYPES[c.pg_type]
    schema[RAW_HASH] = pl.Int64()
    return schema


def to_parquet_frame(frame: pl.DataFrame, columns: list[RawColumn], where: str) -> pl.DataFrame:
    """The exported CSV frame in Parquet's types; `where` names the rows for errors."""
    too_fine = [
        c.name
        for c in columns
        if c.is_numeric and (frame[c.name + SCALE_SUFFIX].max() or 0) > DECIMAL_SCALE  # type: ignore[operator]
    ]
    if too_fine:
        raise UnsupportedColumnError(
            f"{where}: values of {', '.join(too_fine)} have more than {DECIMAL_SCALE} "
            "fractional digits and cannot be archived exactly; fix the rows (or widen "
            "DECIMAL_SCALE in analytics_platform/archive/columns.py)"
        )
    conversions = []
    for c in columns:
        if c.is_time:
            conversions.append(pl.col(c.name).cast(pl.Datetime("us", "UTC")))
        elif c.is_numeric:
            conversions.append(
                pl.col(c.name)
                .str.to_decimal(scale=DECIMAL_SCALE)
                .cast(pl.Decimal(DECIMAL_PRECISION, DECIMAL_SCALE))
            )
            conversions.append(pl.col(c.name + SCALE_SUFFIX).cast(pl.UInt8))
    return frame.with_columns(conversions)


def postgres_row_hash(columns: list[RawColumn]) -> sql.Composed:
    """PostgreSQL: formula 1's 60-bit row hash (15 hex digits of md5 of the canonical text)."""
    texts: list[str] = []
    for c in columns:
        name = sql.Identifier(c.name)
        if c.is_time:
            text = sql.SQL("(extract(epoch FROM {0}) * 1000000)::int8::text").format(name)
        elif c.is_numeric:
            text = sql.SQL("{0}::numeric({1}, {2})::text || '/' || scale({0})").format(
                name, sql.Literal(DECIMAL_PRECISION), sql.Literal(DECIMAL_SCALE)
            )
        else:
            text = sql.SQL("{0}::text").format(name)
        texts.append(text.as_string())
    row_text = sql.SQL(_row_text(columns, texts))  # identifiers quoted above
    return sql.SQL("('x' || left(md5({0}), 15))::bit(60)::int8").format(row_text)


def duckdb_row_hash(columns: list[RawColumn]) -> str:
    """DuckDB: formula 1's row hash over the Parquet columns (identifiers quoted DuckDB's way)."""
    texts: list[str] = []
    for c in columns:
        name = duckdb_identifier(c.name)
        if c.is_time:
            text = f"epoch_us({name})::VARCHAR"
        elif c.is_numeric:
            scale = duckdb_identifier(c.name + SCALE_SUFFIX)
            text = f"{name}::VARCHAR || '/' || {scale}::VARCHAR"
        else:
            text = f"{name}::VARCHAR"
        texts.append(text)
    return f"('0x' || left(md5({_row_text(columns, texts)}), 15))::BIGINT"


def _row_text(columns: list[RawColumn], texts: list[str]) -> str:
    """The canonical row text, `concat_ws(chr(31), <field>, ...)` with each field
    `coalesce('=' || <text>, '~')`, written so that both engines build it cheaply (the
    same SQL in PostgreSQL and DuckDB; `texts` are each column's text, quoted).

    A run of NOT NULL columns is one `'=' || concat_ws(chr(31) || '=', <text>, ...)`:
    the same characters without a concatenation and a NULL test per column (about a
    sixth of PostgreSQL's hash). Should a file hold a NULL where raw cannot, concat_ws
    skips it and the text, so the checksum, differs: verification still sees it.
    """
    fields: list[str] = []
    run: list[str] = []
    for column, text in zip(columns, texts, strict=True):
        if column.not_null:
            run.append(text)
            continue
        if run:
            fields.append(f"'=' || concat_ws(chr(31) || '=', {', '.join(run)})")
            run = []
        fields.append(f"coalesce('=' || {text}, '~')")
    if run:
        fields.append(f"'=' || concat_ws(chr(31) || '=', {', '.join(run)})")
    return f"concat_ws(chr(31), {', '.join(fields)})"


def duckdb_exact_decimal_text(column: str) -> str:
    """DuckDB: a DECIMAL(38,18) column printed with its own scale, as PostgreSQL would."""
    value = f"{duckdb_identifier(column)}::VARCHAR"
    scale = duckdb_identifier(column + SCALE_SUFFIX)
    return (
        f"CASE WHEN {scale} = 0 THEN split_part({value}, '.', 1)"
        f" ELSE left({value}, length({value}) - {DECIMAL_SCALE} + {scale}) END"
    )


def duckdb_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_select_list(columns: list[RawColumn]) -> str:
    """DuckDB: the raw table's columns as the archive views show them (scales left out)."""
    return ", ".join(duckdb_identifier(c.name) for c in columns)
