"""The robustness area (beyond the reference; reported, not counted), bound to --backend."""

from microgpt_spec.spec.areas.robustness import *  # noqa: F401,F403  (the tests and their area marker)
