"""Read and write artifact tables (Parquet, JSONL, CSV) atomically.

Tables are lists of plain dicts in memory; the file suffix picks the format.

Example::

    write_table("runs/x/mastery.parquet", rows)
    rows = read_table("runs/x/mastery.parquet")
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sftlens.errors import DataError
from sftlens.runstore import atomic_path, atomic_write_text


def write_table(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write ``rows`` to ``path`` (.parquet, .jsonl or .csv), atomically."""
    p = Path(path)
    rows = list(rows)
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        with atomic_path(p) as tmp:
            pq.write_table(table, tmp)
    elif p.suffix == ".jsonl":
        atomic_write_text(
            p, "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in rows)
        )
    elif p.suffix == ".csv":
        buf = io.StringIO()
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _csv_cell(v) for k, v in r.items()})
        atomic_write_text(p, buf.getvalue())
    else:
        raise DataError(f"{p}: unknown table format (use .parquet, .jsonl or .csv)")
    return p


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _csv_cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; malformed lines raise ``DataError`` naming file:line."""
    p = Path(path)
    with p.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{p}:{n}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{p}:{n}: malformed JSON ({err.msg})") from None
            except RecursionError:
                raise DataError(f"{p}:{n}: JSON nested too deeply") from None
            if not isinstance(rec, dict):
                raise DataError(f"{p}:{n}: expected a JSON object, got {type(rec).__name__}")
            yield n, rec


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a table written by :func:`write_table` (or by hand) as a list of dicts."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"table not found: {p}")
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(p).to_pylist()
        except (pa.ArrowException, OSError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataError(f"{p}: not a readable Parquet file ({first})") from None
    if p.suffix == ".jsonl":
        return [rec for _, rec in iter_jsonl(p)]
    if p.suffix == ".csv":
        try:
            with p.open(newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        except (UnicodeDecodeError, csv.Error) as err:
            raise DataError(f"{p}: not a readable UTF-8 CSV file ({err})".splitlines()[0]) from None
    raise DataError(f"{p}: unknown table format (use .parquet, .jsonl or .csv)")
