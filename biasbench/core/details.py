"""The ``details`` JSON of result rows as typed columns, parsed once when the tidy table is written.

Every top-level key ``k`` of the rows' details becomes a column of results.parquet: ``details.k``
holding the value itself when every value of the key is a bool, an int, a float or a string, else
``details_json.k`` holding each value's JSON (nested objects, lists, explicit nulls, mixed types).
A row without the key has a null there. The raw ``details`` column stays for users; the scorer reads
the typed columns instead of parsing JSON per row, and :func:`expanded` rebuilds from them exactly
the frame ``pd.DataFrame([json.loads(d) for d in details])`` would give (test_scoring_columnar checks).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

TYPED_PREFIX = "details."
"""Column name prefix of a key whose values share one scalar type."""
JSON_PREFIX = "details_json."
"""Column name prefix of a key whose values are stored as JSON text."""

_SCALARS: Mapping[type, pa.DataType] = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


def is_detail_column(name: str) -> bool:
    """Whether ``name`` is a typed detail column."""
    return name.startswith(TYPED_PREFIX) or name.startswith(JSON_PREFIX)


def detail_key(name: str) -> str:
    """The details key a typed detail column holds."""
    return name[len(TYPED_PREFIX):] if name.startswith(TYPED_PREFIX) else name[len(JSON_PREFIX):]


def _kind(values: Iterable[Any]) -> type | None:
    """The one scalar type of the present values, or None (store as JSON)."""
    kinds = {type(v) for v in values}
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind in _SCALARS and not (kind is int and any(abs(v) >= 2**63 for v in values)):
            return kind
    return None


def details_json(value: Any) -> str:
    """The JSON text of a details value as the table stores it (the raw ``details`` column, JSON detail columns)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def parse_batch(details: Sequence[Any]) -> dict[str, tuple[type | None, list[Any]]]:
    """key -> (scalar type or None for JSON, per-row value with a missing key as the sentinel ``_MISSING``)."""
    parsed = [_as_dict(d) for d in details]
    keys = sorted({k for d in parsed for k in d})
    out = {}
    for key in keys:
        column = [d.get(key, _MISSING) for d in parsed]
        out[key] = (_kind(v for v in column if v is not _MISSING), column)
    return out


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


def arrow_column(kind: type | None, column: list[Any]) -> pa.Array:
    """The values of one key as an arrow array of ``kind`` (JSON text when None); missing -> null."""
    if kind is None:
        return pa.array([None if v is _MISSING else details_json(v) for v in column], type=pa.string())
    return pa.array([None if v is _MISSING else v for v in column], type=_SCALARS[kind])


def column_name(key: str, kind: type | None) -> str:
    """The results.parquet column of ``key`` stored as ``kind``."""
    return (TYPED_PREFIX if kind is not None else JSON_PREFIX) + key


def as_json(array: pa.Array) -> pa.Array:
    """A typed detail column re-encoded as JSON text (when later rows give the key another type)."""
    return pa.array([None if v is None else details_json(v) for v in array.to_pylist()], type=pa.string())


def typed_columns(details: Sequence[Any]) -> dict[str, pa.Array]:
    """column name -> arrow array for one batch of details (JSON strings or dicts)."""
    return {column_name(key, kind): arrow_column(kind, column) for key, (kind, column) in parse_batch(details).items()}


def _object_values(series: pd.Series, json_text: bool) -> np.ndarray:
    """Python values (NaN where the key is missing), decoding each distinct JSON text once."""
    out = np.empty(len(series), dtype=object)
    out[:] = np.nan
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    present = codes >= 0
    decoded = np.empty(len(uniques), dtype=object)
    decoded[:] = [json.loads(u) for u in uniques] if json_text else [_python(u) for u in uniques]
    out[present] = decoded[codes[present]]
    return out


def _python(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def expanded(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The details keys as columns (what expanding each row's JSON gives), from the typed detail columns of ``frame``.

    Columns of keys no row of ``frame`` has are left out, as the JSON expansion would."""
    names = [c for c in (columns if columns is not None else frame.columns) if is_detail_column(c)]
    data = {}
    for name in sorted(names, key=detail_key):
        series = frame[name]
        if not series.notna().any():
            continue
        data[detail_key(name)] = pd.Series(_object_values(series, name.startswith(JSON_PREFIX)), index=frame.index).infer_objects()
    return pd.DataFrame(data, index=frame.index)


def from_json_column(details: pd.Series) -> pd.DataFrame:
    """Typed detail columns (as pandas columns) for a table written before they existed: each distinct
    details string is parsed once."""
    codes, uniques = pd.factorize(details.fillna("").astype(str), sort=False)
    parsed = parse_batch(list(uniques))
    data = {}
    for key, (kind, column) in parsed.items():
        values = np.empty(len(column), dtype=object)
        values[:] = arrow_column(kind, column).to_pylist()  # Python values: ints stay ints where rows lack the key
        picked = values[codes]
        data[column_name(key, kind)] = pd.Series(picked, index=details.index)
    return pd.DataFrame(data, index=details.index)


def _small_ints(series: pd.Series) -> pd.Series:
    """A nullable integer column in the smallest nullable integer type that holds it exactly (values unchanged)."""
    present = series.dropna()
    if present.empty:
        return series.astype("Int8")
    low, high = int(present.min()), int(present.max())
    for dtype in ("Int8", "Int16", "Int32"):
        info = np.iinfo(dtype.lower())
        if info.min <= low and high <= info.max:
            return series.astype(dtype)
    return series


def table_to_frame(table: pa.Table, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """An arrow result table as pandas, one column at a time: integer detail columns stay integers where
    rows lack the key (nullable Int64, so :func:`expanded` gives ints, not floats); columns named in
    ``categorical`` and every string detail column become pandas categoricals (codes + one copy of each
    distinct string)."""
    data = {}
    for f in table.schema:
        column = table.column(f.name)
        textual = pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        if pa.types.is_dictionary(f.type):
            data[f.name] = column.to_pandas()
        elif textual and (f.name in categorical or is_detail_column(f.name)):
            data[f.name] = column.dictionary_encode().to_pandas()
        elif is_detail_column(f.name) and pa.types.is_integer(f.type):
            data[f.name] = _small_ints(column.to_pandas(types_mapper={f.type: pd.Int64Dtype()}.get))
        else:
            data[f.name] = column.to_pandas()
    return pd.DataFrame(data, copy=False)
