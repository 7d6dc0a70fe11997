"""The pytest plugin of a grading run (`-p microgpt_spec.grading.pytest_plugin`).

It runs beside the spec's own plugin in the grader's pytest process and:

* tells the link where each test begins and ends (per-test time budget, the area a
  delegated call is charged to);
* sends any operations still in flight at the end of each test (and each hypothesis
  example), so that their errors count in the test that made them;
* names the submission in the spec's "reproduce" snippets (not the grader's internals);
* writes every test's area, status and message, and what the link saw (delegation,
  time-outs, crashes, refused actions), as one JSON file for the grade report.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from microgpt_spec.grading import remote
from microgpt_spec.grading.failures import SubmissionFailure
from microgpt_spec.grading.link import Link, TestRecord
from microgpt_spec.plugin import NotImplementedPart, area_of
from microgpt_spec.spec.assertions import set_context
from microgpt_spec.spec.profiles import register_profiles

register_profiles()  # grade, quick, ...: a grading run is always the spec's


class GradeRecorder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests: dict[str, dict] = {}
        self.collection_errors: list[str] = []
        self.link_records: dict[str, TestRecord] = {}

    @property
    def link(self) -> Link | None:
        return remote.current_link()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        link = self.link
        if link is not None:
            set_context(link.config.display, link.info.get("precision", "float64"))

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
        if area_of(item) is None:
            return
        handle = getattr(item.obj, "hypothesis", None)
        if handle is not None and hasattr(handle, "inner_test"):
            handle.inner_test = _flushing(handle.inner_test)
        else:
            item.obj = _flushing(item.obj)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        excinfo = call.excinfo
        if excinfo is None or report.passed:
            return
        value = excinfo.value
        if isinstance(value, SubmissionFailure):
            report.user_properties.append(("grade_kind", value.kind))
        notes = [n for n in getattr(value, "__notes__", ()) if isinstance(n, str)]
        if notes:
            report.user_properties.append(("grade_notes", "\n".join(notes)))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.note_progress(f"total {len(session.items)}")

    def note_progress(self, line: str) -> None:
        link = self.link
        if link is not None and link.config.progress_path:
            with open(link.config.progress_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "spec_area" not in props or report.nodeid in self.tests:
            return
        self.note_progress(f"done {props['spec_area']}")
        message = props.get("spec_message", "")
        if props.get("grade_notes"):
            message = f"{message}\n{props['grade_notes']}"
        self.tests[report.nodeid] = {
            "area": props["spec_area"], "status": props["spec_status"], "message": message,
            "kind": props.get("grade_kind"), "seconds": round(report.duration, 3),
        }

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        link = self.link
        if link is None:
            return
        for nodeid, record in self.link_records.items():
            if nodeid in self.tests:
                self.tests[nodeid]["delegated"] = record.delegated
                self.tests[nodeid]["kind"] = self.tests[nodeid]["kind"] or record.failure
        document = {
            "backend": link.backend_identity(),
            "import_failure": link.import_failure.msg if link.import_failure else None,
            "reference_events": link.reference_events,
            "refused": link.refused,
            "walls": link.walls(),
            "restarts": link.restarts,
            "collection_errors": self.collection_errors,
            "exitstatus": int(exitstatus),
            "tests": self.tests,
        }
        link.close()
        path = Path(link.config.results_path)
        path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")


def _flushing(fn):
    """Run a test (or one hypothesis example), then surface the errors of operations still
    in flight, as the spec's plugin would have reported them."""
    if getattr(fn, "_microgpt_grade_wrapped", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        result = fn(*args, **kwargs)
        link = remote.current_link()
        if link is not None:
            try:
                link.flush()
            except NotImplementedError as error:
                raise NotImplementedPart(f"not implemented: {error or 'NotImplementedError'}") from None
        return result

    wrapper._microgpt_grade_wrapped = True
    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(GradeRecorder(config), "microgpt_spec_grade_recorder")
