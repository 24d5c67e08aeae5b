"""Reading an uploaded `email,name,plan` CSV: a file the portal cannot read gets one sentence
that says what is wrong and how to fix it (FileRefused); a file it can read becomes its rows,
each judged on its own later (portal/accounts/invitation_import.py)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
COLUMNS = ("email", "name", "plan")
OTHER_DELIMITERS = ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars"))
SAVE_AS = 'save it from your spreadsheet as "CSV UTF-8 (comma delimited)"'


class FileRefused(Exception):
    """The whole file is refused; `str(self)` is the one sentence staff read."""


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line number in the file, as a spreadsheet shows it
    email: str
    name: str
    plan: str
    extra_cells: bool  # more cells than the header names (an unquoted comma in a name)


def csv_rows(data: bytes) -> list[CsvRow]:
    """The data rows of the file, blank lines left out; FileRefused for a file that is no such CSV."""
    if len(data) > MAX_BYTES:
        raise FileRefused(
            f"The file is {len(data):,} bytes; the limit is {MAX_BYTES:,} bytes "
            f"(and {MAX_ROWS:,} rows): split it into smaller files."
        )
    text = _decoded(data)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise FileRefused("The file is empty: the first line must be the header email,name,plan.")
    header = _header(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a stray quote is an error, not a guess
    next(reader)  # the header, checked above
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            rows.append(_row(reader.line_num, header, cells))
            if len(rows) > MAX_ROWS:
                raise FileRefused(f"The file has more than {MAX_ROWS:,} rows, the limit: split it.")
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} is not valid CSV ({exc}): {SAVE_AS}.") from None
    if not rows:
        raise FileRefused("The file has a header but no rows: add one line per person under it.")
    return rows


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is fine
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"The file is not UTF-8 text (byte {exc.start + 1:,} is not UTF-8): {SAVE_AS}."
        ) from None


def _header(first_line: str) -> list[str]:
    cells = [cell.strip().lower() for cell in next(csv.reader([first_line]), [])]
    if "email" not in cells:
        for delimiter, name in OTHER_DELIMITERS:
            if "email" in (cell.strip().lower() for cell in first_line.split(delimiter)):
                raise FileRefused(
                    f"The columns are separated by {name}, not commas: {SAVE_AS}, "
                    "or change the separator to a comma."
                )
        raise FileRefused(
            f"The first line must be the header email,name,plan (name and plan may be left out), "
            f"not {first_line[:80]!r}."
        )
    unknown = [cell for cell in cells if cell not in COLUMNS]
    if unknown:
        raise FileRefused(
            f"The header names a column the portal does not know ({', '.join(map(repr, unknown))}): "
            "the columns are email, name and plan."
        )
    twice = sorted({cell for cell in cells if cells.count(cell) > 1})
    if twice:
        raise FileRefused(f"The header names the column {twice[0]!r} twice.")
    return cells


def _row(line: int, header: list[str], cells: list[str]) -> CsvRow:
    values = dict(zip(header, cells, strict=False))
    return CsvRow(
        line=line,
        email=values.get("email", "").strip(),
        name=values.get("name", "").strip(),
        plan=values.get("plan", "").strip(),
        extra_cells=len(cells) > len(header),
    )
