"""`isobridge.testing`: the vendor kit under its short name (everything lives in `isobridge.core.testing`)."""

from isobridge.core.testing import *  # noqa: F401,F403
from isobridge.core.testing import __all__  # noqa: F401
