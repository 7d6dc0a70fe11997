"""The pytest plugin of a grading run (`-p microgpt_spec.grading.pytest_plugin`).

It runs beside the spec's own plugin in the grader's pytest process and:

* tells the link where each test begins and ends (per-test time budget, the area a
  delegated call is charged to);
* sends any operations still in flight at the end of each test (and each hypothesis
  example), so that their errors count in the test that made them;
* names the submission, and the precision it declares, in the spec's run context (the
  "reproduce" snippets name the submission, not the grader's internals);
* writes the spec's record of every test (area, status, message, seconds) with what the
  link saw (delegation, failure kinds, time-outs, crashes, refused actions) as one JSON
  file for the grade report.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from microgpt_spec.files import write_atomically
from microgpt_spec.grading import remote
from microgpt_spec.grading.failures import SubmissionFailure
from microgpt_spec.grading.link import Link, TestRecord
from microgpt_spec.plugin import RUN_CONTEXT, NotImplementedPart, area_of, spec_results, wrap_test
from microgpt_spec.spec.assertions import RunContext
from microgpt_spec.spec.profiles import register_profiles

register_profiles()  # grade, quick, ...: a grading run is always the spec's


class GradeRecorder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collection_errors: list[str] = []
        self.link_records: dict[str, TestRecord] = {}
        self.failures: dict[str, dict] = {}  # per test: the failure's kind and notes, when it has them

    @property
    def link(self) -> Link | None:
        return remote.current_link()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # After the spec's plugin: the submission declares its precision once its worker is up.
        link = self.link
        if link is not None:
            self.config.stash[RUN_CONTEXT] = RunContext(link.config.display, link.info.get("precision", "float64"))

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {str(report.longrepr)[-1500:]}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        link = self.link
        if link is not None:
            link.begin_test(area_of(item))
        yield
        if link is not None:
            self.link_records[item.nodeid] = link.end_test()

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if area_of(item) is not None:
            wrap_test(item, flushing)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is None or report.passed or item.nodeid in self.failures:
            return
        value = call.excinfo.value
        notes = [n for n in getattr(value, "__notes__", ()) if isinstance(n, str)]
        self.failures[item.nodeid] = {"kind": value.kind if isinstance(value, SubmissionFailure) else None,
                                      "notes": "\n".join(notes)}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.note_progress(f"total {len(session.items)}")

    def note_progress(self, line: str) -> None:
        link = self.link
        if link is not None and link.config.progress_path:
            with open(link.config.progress_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        record = spec_results(self.config).tests.get(nodeid)
        if record is not None:
            self.note_progress(f"done {record['area']}")

    def graded_tests(self) -> dict[str, dict]:
        """The spec's record of each test, with what the grader saw of it."""
        tests, results = {}, spec_results(self.config)
        for nodeid, record in results.tests.items():
            failure = self.failures.get(nodeid, {})
            seen = self.link_records.get(nodeid)
            message = record["message"] + (f"\n{failure['notes']}" if failure.get("notes") else "")
            tests[nodeid] = {**record, "message": message, "seconds": results.seconds[nodeid],
                             "kind": failure.get("kind") or (seen.failure if seen else None)}
            if seen is not None:
                tests[nodeid]["delegated"] = seen.delegated
        return tests

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        link = self.link
        if link is None:
            return
        document = {
            "backend": link.backend_identity(),
            "import_failure": link.import_failure.msg if link.import_failure else None,
            "reference_events": link.reference_events,
            "refused": link.refused,
            "walls": link.walls(),
            "restarts": link.restarts,
            "collection_errors": self.collection_errors,
            "exitstatus": int(exitstatus),
            "tests": self.graded_tests(),
        }
        link.close()
        write_atomically(Path(link.config.results_path), json.dumps(document, indent=1, sort_keys=True))


def flushing(fn):
    """Run a test (or one hypothesis example), then surface the errors of operations still
    in flight, as the spec's plugin would have reported them."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        result = fn(*args, **kwargs)
        link = remote.current_link()
        if link is not None:
            try:
                link.flush()
            except NotImplementedError as error:
                raise NotImplementedPart.instead_of(error) from None
        return result

    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(GradeRecorder(config), "microgpt_spec_grade_recorder")
