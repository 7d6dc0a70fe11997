"""Grading untrusted microgpt implementations against the spec.

    from microgpt_spec.grading import grade
    reports = grade([Path("submissions")], out=Path("grades"))

How it fits together (one submission):

    batch.py         the whole run: probe the sandbox, find the submissions, grade them in parallel
    runner.py        a private work folder; `pytest --pyargs microgpt_spec.conformance` in it
      pytest_plugin.py   in that pytest: test boundaries, the results file
      remote.py          the backend the spec sees (proxies.py), every call forwarded by
      link.py            the link (time, death, trust; failures.py) to ...
        worker.py        ... a separate process that imported the submission and serves
        serve.py         the requests on its objects,
        sandbox.py       confined by the kernel's walls (kernel.py: Landlock, seccomp,
                         namespaces, capabilities), limits, and an audit hook that explains
        protocol.py      (the wire between them, declared once: length-prefixed JSON, never pickle)
    rubric.py        points per area, policies, default limits
    reports.py       scores, report.json, Gradescope's results.json, the table, the gradebook
    bundle.py        a Gradescope autograder zip

The spec, the oracle and pytest never run in the submission's process, so nothing the
submission does to its own interpreter changes how it is graded.

The names below are imported on first use: the worker imports this package too, and must
not pay for the reports' imports before it confines itself.
"""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_PUBLIC = {
    "grade": "batch", "grade_one": "batch", "prepare_sandbox": "batch", "SandboxUnavailable": "batch",
    "RunOptions": "runner", "SubmissionError": "runner", "Rubric": "rubric", "SubmissionReport": "reports",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
