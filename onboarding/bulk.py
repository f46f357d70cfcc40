"""Onboarding many people from one CSV file: reading the rows. Each row is then checked with the
same rules as one onboarding (services.people_onboard_csv_check)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from onboarding.errors import InvalidInput

COLUMNS = ("username", "first_name", "last_name", "email", "team")
# Optional: an empty value (or no column) means onboard now, and no end date.
DATE_COLUMNS = ("start_date", "end_date")
# Only this form: 01/12/2026 means another day in another country.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The header is line 1, so a row's number is the line a spreadsheet shows it on.
FIRST_ROW = 2
# No column holds more (a name 128, an e-mail address 254): a longer cell is a mistake.
CELL_MAX_LENGTH = 1000


@dataclass(frozen=True)
class CsvRow:
    number: int
    username: str
    first_name: str
    last_name: str
    email: str
    team: str
    start_date: date | None = None
    end_date: date | None = None


def csv_date_read(value: str, *, column: str) -> date | None:
    """An optional YYYY-MM-DD value, or ValueError saying what is wrong with it."""
    if not value:
        return None
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(f"{column} {value!r} is not a date written YYYY-MM-DD")


def csv_text_normalise(text: str) -> str:
    """One form of the same file whatever its line endings: a browser sends a form's text back
    with CRLF (the HTML form encoding rewrites every line break), a Unix file has LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def csv_text_decode(data: bytes) -> str:
    """A file's bytes as text: UTF-8, with or without a byte-order mark, lines ending in LF."""
    try:
        return csv_text_normalise(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"The file is not UTF-8 (byte {error.start + 1} cannot be read); "
            "save it as CSV UTF-8 and try again. Nothing was created."
        ) from None


def csv_rows_read(text: str, *, max_rows: int) -> tuple[list[CsvRow], list[str]]:
    """The file's rows, and the problems found reading them (each naming its row)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows: list[CsvRow] = []
    problems: list[str] = []
    number = 0  # the last row read: the header is row 1
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            return [], [
                f"row 1: the header must name the columns {', '.join(COLUMNS)} "
                f"(optional: {', '.join(DATE_COLUMNS)}); missing {', '.join(missing)}"
            ]
        unknown = [name for name in header if name not in COLUMNS + DATE_COLUMNS]
        if unknown:
            return [], [f"row 1: unknown columns {', '.join(unknown)}"]
        number = FIRST_ROW - 1
        for number, values in enumerate(reader, start=FIRST_ROW):
            problem = _row_problem(header, values)
            if problem is None:
                continue
            if problem:
                problems.append(f"row {number}: {problem}")
                continue
            fields = dict(zip(header, (value.strip() for value in values), strict=True))
            try:
                dates = {name: csv_date_read(fields.get(name, ""), column=name)
                         for name in DATE_COLUMNS}  # fmt: skip
            except ValueError as error:
                problems.append(f"row {number}: {error}")
                continue
            rows.append(CsvRow(number, *(fields[name] for name in COLUMNS), **dates))
    except csv.Error:
        # Python's csv stops at a cell over its field limit (131,072 characters) and cannot go on.
        problems.append(
            f"row {number + 1}: a value is longer than {CELL_MAX_LENGTH} characters, or the "
            "file is not CSV from here on; nothing after it was read"
        )
    if len(rows) > max_rows:
        return [], [f"the file has {len(rows)} rows; at most {max_rows} (BULK_MAX_ROWS) at once"]
    if not rows and not problems:
        problems.append("the file has a header but no rows")
    return rows, problems


def _row_problem(header: list[str], values: list[str]) -> str | None:
    """None for an empty row (skipped), "" for a row to read, or what is wrong with it."""
    if not any(value.strip() for value in values):
        return None
    if len(values) != len(header):
        return f"{len(values)} values for {len(header)} columns"
    for name, value in zip(header, values, strict=True):
        if len(value) > CELL_MAX_LENGTH:
            return f"{name} is {len(value)} characters long; at most {CELL_MAX_LENGTH}"
    return ""
