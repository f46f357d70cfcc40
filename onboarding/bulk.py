"""Onboarding many people from one CSV file: reading the rows. Each row is then checked with the
same rules as one onboarding (services.people_onboard_csv_check)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from onboarding.errors import InvalidInput

COLUMNS = ("username", "first_name", "last_name", "email", "team")
# Accepted so a spreadsheet exported for HR needs no editing, but not yet read from a file: a
# value in either is refused (set dates with the onboard form or `manage.py person_dates`).
IGNORED_COLUMNS = ("start_date", "end_date")
# The header is line 1, so a row's number is the line a spreadsheet shows it on.
FIRST_ROW = 2


@dataclass(frozen=True)
class CsvRow:
    number: int
    username: str
    first_name: str
    last_name: str
    email: str
    team: str


def csv_text_decode(data: bytes) -> str:
    """A file's bytes as text: UTF-8, with or without a byte-order mark."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"The file is not UTF-8 (byte {error.start + 1} cannot be read); "
            "save it as CSV UTF-8 and try again. Nothing was created."
        ) from None


def csv_rows_read(text: str, *, max_rows: int) -> tuple[list[CsvRow], list[str]]:
    """The file's rows, and the problems found reading them (each naming its row)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        return [], [
            f"row 1: the header must name the columns {', '.join(COLUMNS)} "
            f"(optional: {', '.join(IGNORED_COLUMNS)}); missing {', '.join(missing)}"
        ]
    unknown = [name for name in header if name not in COLUMNS + IGNORED_COLUMNS]
    if unknown:
        return [], [f"row 1: unknown columns {', '.join(unknown)}"]
    rows, problems = [], []
    for number, values in enumerate(reader, start=FIRST_ROW):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            problems.append(f"row {number}: {len(values)} values for {len(header)} columns")
            continue
        fields = dict(zip(header, (value.strip() for value in values), strict=True))
        for name in IGNORED_COLUMNS:
            if fields.get(name):
                problems.append(
                    f"row {number}: {name} is not read from a file yet; leave it empty and set it "
                    "afterwards (manage.py person_dates)"
                )
        rows.append(CsvRow(number, *(fields[name] for name in COLUMNS)))
    if len(rows) > max_rows:
        return [], [f"the file has {len(rows)} rows; at most {max_rows} (BULK_MAX_ROWS) at once"]
    if not rows and not problems:
        problems.append("the file has a header but no rows")
    return rows, problems
