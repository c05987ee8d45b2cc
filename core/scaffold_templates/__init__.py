"""Template files of `isobridge new-adapter` (package data)."""
