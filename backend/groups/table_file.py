"""A group from a Cayley table file (CSV or JSON).

Accepted layouts:

- CSV of integers: n rows of n comma-separated element indices, 0-based (1-based
  tables, with entries 1..n, are shifted).
- CSV with names: a header row (first cell empty or any corner text) of element names,
  then one row per element starting with its name, cells holding names.
- JSON: a list of n lists of integers, or ``{"elements": [names], "table": [[...]]}``
  whose cells are names or 0-based indices.

The identity may be anywhere in the file; it is moved to index 0.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from backend.file_reading import read_text
from backend.groups.finite_group import MAX_ORDER, FiniteGroup, GroupError, check_order

TABLE_FIX = "give a Cayley table saved as .csv or .json text (see docs/groups.md)"


def _cells_to_indices(rows: list[list[str]], names: list[str] | None) -> np.ndarray:
    n = len(rows)
    if names is not None:
        lookup = {name: index for index, name in enumerate(names)}
        table = np.empty((n, n), dtype=np.int64)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                if cell not in lookup:
                    raise GroupError(
                        f"cell [{names[i]}, {names[j]}] = {cell!r} is not one of the "
                        "element names of the header"
                    )
                table[i, j] = lookup[cell]
        return table
    try:
        table = np.array([[int(cell) for cell in row] for row in rows], dtype=np.int64)
    except (ValueError, OverflowError) as error:
        raise GroupError(f"the table holds a cell that is not an integer index ({error})") from None
    if table.size and table.min() == 1 and table.max() == n:
        table = table - 1
    return table


def _check_square(rows: list[list], path: Path) -> None:
    n = len(rows)
    if n == 0:
        raise GroupError(f"{path} holds no table rows")
    check_order(n, f"the table in {path}")
    for i, row in enumerate(rows):
        if len(row) != n:
            raise GroupError(
                f"{path}: row {i + 1} has {len(row)} cells but the table has {n} rows; "
                "a Cayley table is square"
            )


def _read_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    text = read_text(path, "Cayley table file", TABLE_FIX)
    try:
        rows = [[cell.strip() for cell in row]
                for row in csv.reader(io.StringIO(text, newline="")) if any(row)]
    except csv.Error as error:
        raise GroupError(f"{path} is not a readable CSV table ({error}); {TABLE_FIX}") from None
    if not rows:
        raise GroupError(f"{path} is empty; it should hold an n x n Cayley table")
    if len(rows) > MAX_ORDER + 1:
        check_order(len(rows) - 1, f"the table in {path}")
    header_is_names = (
        len(rows) >= 2
        and len(rows[0]) == len(rows)
        and any(not cell.lstrip("-").isdigit() for cell in rows[0])
        and set(rows[0][1:]) == {row[0] for row in rows[1:]}
    )
    if header_is_names:
        names = rows[0][1:]
        body = [row[1:] for row in rows[1:]]
        _check_square(body, path)
        row_names = [row[0] for row in rows[1:]]
        if row_names != names:
            order = [row_names.index(name) if name in row_names else -1 for name in names]
            if -1 in order:
                raise GroupError(
                    f"{path}: the row names {row_names} do not match the header {names}"
                )
            body = [body[i] for i in order]
        return _cells_to_indices(body, names), names
    _check_square(rows, path)
    return _cells_to_indices(rows, None), None


def _read_json(path: Path) -> tuple[np.ndarray, list[str] | None]:
    try:
        data = json.loads(read_text(path, "Cayley table file", TABLE_FIX))
    except (json.JSONDecodeError, RecursionError) as error:
        raise GroupError(f"{path} is not valid JSON: {error}") from None
    names = None
    if isinstance(data, dict):
        if "table" not in data:
            raise GroupError(f'{path}: a JSON object must have a "table" entry (and "elements")')
        names = data.get("elements")
        data = data["table"]
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise GroupError(f"{path}: the table must be a list of rows (lists)")
    _check_square(data, path)
    if names is not None:
        names = [str(name) for name in names]
        if len(names) != len(data):
            raise GroupError(f"{path}: {len(names)} element names for a {len(data)}-row table")
        if all(isinstance(cell, str) for row in data for cell in row):
            return _cells_to_indices([[str(c) for c in row] for row in data], names), names
    if not all(isinstance(cell, int) for row in data for cell in row):
        raise GroupError(f"{path}: table cells must be integers (or names listed in elements)")
    return _cells_to_indices([[str(c) for c in row] for row in data], None), names


def _identity_first(table: np.ndarray, names: list[str] | None):
    n = len(table)
    identity_rows = np.flatnonzero((table == np.arange(n)).all(axis=1))
    identity_cols = np.flatnonzero((table == np.arange(n)[:, None]).all(axis=0))
    both = np.intersect1d(identity_rows, identity_cols)
    if len(both) == 0 or both[0] == 0 or table.min() < 0 or table.max() >= n:
        return table, names
    e = int(both[0])
    order = np.array([e] + [i for i in range(n) if i != e])
    position = np.argsort(order)
    table = position[table[np.ix_(order, order)]]
    if names is not None:
        names = [names[i] for i in order]
    return table, names


def load_table_file(path: str | Path) -> FiniteGroup:
    """Read, validate and return the group of a Cayley table file (.csv or .json)."""
    path = Path(path)
    if not path.is_file():
        raise GroupError(f"no such table file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table, names = _read_csv(path)
    elif suffix == ".json":
        table, names = _read_json(path)
    else:
        raise GroupError(f"{path}: a Cayley table file must end in .csv or .json")
    table, names = _identity_first(table, names)
    if names is None:
        names = ["e"] + [f"g{i}" for i in range(1, len(table))]
    return FiniteGroup(str(path), table, names)
