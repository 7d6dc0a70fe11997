"""The backend the spec sees when it grades: `--backend=microgpt_spec.grading.remote:connect`.

`connect()` reads the grading configuration named by $MICROGPT_SPEC_GRADE_CONFIG, starts
the worker that imports the submission (see `link` and `worker`), and returns a
`RemoteBackend` whose every call runs there.
"""

from __future__ import annotations

import os

from microgpt_spec.grading.failures import SubmissionFailure
from microgpt_spec.grading.link import Link, LinkConfig
from microgpt_spec.grading.proxies import RemoteBackend

CONFIG_ENVIRONMENT = "MICROGPT_SPEC_GRADE_CONFIG"


_LINK: Link | None = None


def current_link() -> Link | None:
    return _LINK


def connect() -> RemoteBackend:
    """The backend for `--backend=microgpt_spec.grading.remote:connect`: reads the grading
    configuration named by $MICROGPT_SPEC_GRADE_CONFIG and starts the worker."""
    global _LINK
    path = os.environ.get(CONFIG_ENVIRONMENT)
    if not path:
        raise RuntimeError(f"{CONFIG_ENVIRONMENT} is not set: this backend is started by `microgpt-spec grade`")
    if _LINK is None:
        _LINK = Link(LinkConfig.from_file(path))
        try:
            _LINK.start()
        except SubmissionFailure:
            pass  # every test then reports the import failure
    return RemoteBackend(_LINK)

