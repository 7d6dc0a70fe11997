"""The loss area of the spec, bound to the backend chosen with --backend."""

from microgpt_spec.spec.areas.loss import *  # noqa: F401,F403  (the tests and their area marker)
