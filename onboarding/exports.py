"""What every CSV export (the audit log, an access review) writes through."""


def csv_cell(value: str) -> str:
    """A spreadsheet runs a cell starting with = + - @ (or a tab or CR before them) as a
    formula; a leading quote makes it text (OWASP's advice on CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
