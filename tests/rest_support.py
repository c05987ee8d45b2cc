"""Pieces the REST-profile tests share."""

FLAT_RECORD = """[fields]
key = "id"
dossier = "code"
procedure = "procedure"
received_at = "received"
status = "status"
[status]
"4" = 4
"""
"""The tail of a test profile whose records are flat (id, code, procedure, received, status 4)."""
