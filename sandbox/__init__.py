"""Local stand-ins for the systems AccessAdmin drives; see README.md."""
