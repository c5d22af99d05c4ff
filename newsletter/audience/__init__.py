"""The subscriber list's files: CSV import and export."""
