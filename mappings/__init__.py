"""Declarative vendor mappings, shipped as TOML data files."""
