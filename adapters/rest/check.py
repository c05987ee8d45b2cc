"""`isobridge mapping check` for REST sources: the check lives in the core (`isobridge.core.check_mapping`)."""

from isobridge.core import MappingReport, check_mapping, unmapped_codes

__all__ = ["MappingReport", "check_mapping", "unmapped_codes"]
