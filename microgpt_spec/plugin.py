"""The pytest plugin that binds the spec to a backend.

Installed with the package (entry point `pytest11`), so `--backend` works from any folder:

    pytest conformance --backend=pure
    pytest --pyargs microgpt_spec.conformance --backend=path/to/mine.py

It changes nothing in a run that is not the spec's: the profiles, the short tracebacks, the
markers and the fixtures below apply only when a backend is chosen (`--backend` or
`--compare-backend`) or the conformance tests are named on the command line.

What it adds:
* `--backend`, `--compare-backend`, `--area`, `--spec-json`;
* one marker per spec area, and a collection error for a spec test without exactly one;
* the hypothesis profiles (`ci` is chosen automatically when CI is set);
* *not implemented*: a `NotImplementedError` (or a missing method) from the backend ends the
  test at once as not implemented, never a crash and never a pass;
* the report: a header naming the backend, and a table of results per area at the end.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.errors import HypothesisException

from microgpt_spec import limits, programs
from microgpt_spec import report as spec_report
from microgpt_spec.files import write_atomically
from microgpt_spec.registry import BackendLoadError, LoadedBackend, find_backend, no_backend_message
from microgpt_spec.spec.assertions import RunContext, SpecFailure, active_run, checking
from microgpt_spec.spec.contract import AREA_DEPENDS_ON, AREAS, CONTRACT_METHODS, EXTRA_AREAS
from microgpt_spec.spec.profiles import register_profiles

SPEC_MODULE_PREFIX = "microgpt_spec.spec.areas."
CONFORMANCE_PACKAGE = "microgpt_spec.conformance"
LIMITS_FILE = Path(limits.__file__).resolve()
SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
ALL_AREAS = AREAS + EXTRA_AREAS


class NotImplementedPart(pytest.skip.Exception):
    """Raised in place of the backend's NotImplementedError: ends the test as not implemented."""

    @classmethod
    def instead_of(cls, error: NotImplementedError) -> "NotImplementedPart":
        return cls(f"not implemented: {error or 'NotImplementedError'}")


#: The run's context (the backend as named, its precision), kept on the pytest config.
RUN_CONTEXT = pytest.StashKey[RunContext]()


# --------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("microgpt-spec", "microgpt-spec conformance")
    group.addoption("--backend", default=None, metavar="BACKEND",
                    help="the implementation to check: a registered name (pure, numpy, ...), "
                         "a .py file or folder, or module:attribute")
    group.addoption("--compare-backend", default=None, metavar="BACKEND",
                    help="a second backend; the crosscheck area compares both on identical inputs")
    group.addoption("--area", action="append", default=[], metavar="AREA",
                    help=f"run only these spec areas (repeat or comma-separate): {', '.join(ALL_AREAS)}")
    group.addoption("--spec-json", default=None, metavar="PATH",
                    help="write every spec test's area, status and message to this JSON file")
    group.addoption("--spec-timeout", type=float, default=limits.DEFAULT_SECONDS, metavar="SECONDS",
                    help="stop a spec test that runs longer than this, as failed (default "
                         f"{limits.DEFAULT_SECONDS:g}; 0: no limit)")
    group.addoption("--spec-memory", type=_memory_size, default=limits.DEFAULT_MEMORY, metavar="SIZE",
                    help="stop a spec test whose process grows by more than this much memory, as failed "
                         f"(default {limits.DEFAULT_MEMORY}, per pytest-xdist worker; 0: no limit)")


def _memory_size(text: str) -> int:
    try:
        return limits.parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# tryfirst: the profiles must be registered before hypothesis's own plugin loads the one
# named by --hypothesis-profile.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Installed, this plugin is loaded by every pytest run in the environment: it changes
    # nothing (profiles, traceback style, markers, fixtures) unless the spec is being run.
    if not spec_requested(config):
        config.pluginmanager.register(NoSpecGuard(), "microgpt_spec_guard")
        return
    for area in ALL_AREAS:
        config.addinivalue_line("markers", f"{area}: the {area} area of the microgpt spec")
    config.addinivalue_line(
        "markers", "uses(*areas): the other spec areas whose code this spec test runs (default: all "
                   "the areas its own area depends on); the report's 'fix that first' note names only these")
    register_profiles()
    _choose_hypothesis_profile(config)
    if getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "short"  # the spec's messages explain; long tracebacks distract
    config.pluginmanager.register(SpecRun(config), "microgpt_spec_run")
    config.pluginmanager.register(SpecFixtures(), "microgpt_spec_fixtures")
    _register_limits(config)


def _register_limits(config: pytest.Config) -> None:
    # A grading run has limits of its own, enforced around the submission's process.
    if config.pluginmanager.has_plugin("microgpt_spec.grading.pytest_plugin"):
        return
    limiter = SpecLimits(config)
    config.pluginmanager.register(limiter, "microgpt_spec_limits")
    if limiter.seconds:
        config.pluginmanager.register(SpecTimer(), "microgpt_spec_timer")


def spec_requested(config: pytest.Config) -> bool:
    """Is this run the spec's? A backend was chosen, or a path or --pyargs name given on the
    command line holds the conformance tests (so a run without --backend still says how to
    choose one)."""
    if config.getoption("backend") or config.getoption("compare_backend"):
        return True
    return any(_holds_conformance(arg, config) for arg in config.args)


def _holds_conformance(arg: str, config: pytest.Config) -> bool:
    target = arg.split("::", 1)[0]
    if config.getoption("pyargs", False) and target.replace(".", "").isidentifier():
        package = CONFORMANCE_PACKAGE
        if target == package or target.startswith(package + ".") or package.startswith(target + "."):
            return True
    path = (config.invocation_params.dir / target).resolve()
    folder = _conformance_folder()
    return folder is not None and (path == folder or path in folder.parents or folder in path.parents)


@functools.cache
def _conformance_folder() -> Path | None:
    found = importlib.util.find_spec(CONFORMANCE_PACKAGE)
    locations = list(found.submodule_search_locations or ()) if found else []
    return Path(locations[0]).resolve() if locations else None


class NoSpecGuard:
    """In a run that is not the spec's, say how to choose a backend should spec tests be
    collected all the same (another project importing them), and otherwise do nothing."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        if any(_is_spec_test(item) for item in items):
            raise pytest.UsageError("No backend chosen.\n" + no_backend_message())


def _choose_hypothesis_profile(config: pytest.Config) -> None:
    if config.getoption("hypothesis_profile", default=None):
        return  # hypothesis's own plugin loads the profile the user named
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _selected_areas(config: pytest.Config) -> set[str]:
    chosen = {a.strip() for value in config.getoption("area") for a in value.split(",") if a.strip()}
    unknown = chosen - set(ALL_AREAS)
    if unknown:
        raise pytest.UsageError(f"--area: unknown area {sorted(unknown)}; the areas are {', '.join(ALL_AREAS)}")
    return chosen


def area_of(item: pytest.Item) -> str | None:
    """The spec area of a collected test, or None for a test that is not part of the spec."""
    if not _is_spec_test(item):
        return None
    marks = [m.name for m in item.iter_markers() if m.name in ALL_AREAS]
    return marks[0] if len(marks) == 1 else None


def _is_spec_test(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    return getattr(function, "__module__", "").startswith(SPEC_MODULE_PREFIX)


# --------------------------------------------------------------------------- the backend
class BackendProxy:
    """The backend as the spec sees it: a missing contract method is *not implemented*."""

    def __init__(self, loaded: LoadedBackend) -> None:
        self._loaded = loaded

    def __getattr__(self, name: str):
        try:
            return getattr(self._loaded.backend, name)
        except AttributeError:
            if name in CONTRACT_METHODS:
                raise NotImplementedError(f"the backend has no method {name}()") from None
            raise

    def __repr__(self) -> str:
        return f"<backend {self._loaded.name} from {self._loaded.origin}>"


def wrap_test(item: pytest.Item, decorate) -> None:
    """Replace what pytest calls for a spec test by `decorate(it)`: a hypothesis test's inner
    test (one example, so the wrapper acts on every example and hypothesis sees what it
    raises, NotImplementedPart ending the test at once, without shrinking), else the test
    function. A test's parametrized items share the hypothesis inner test: it is wrapped
    once per decorator (functools.wraps carries the marks on to outer wrappers)."""
    handle = getattr(item.obj, "hypothesis", None)
    owner, name = (handle, "inner_test") if hasattr(handle, "inner_test") else (item, "obj")
    fn, mark = getattr(owner, name), f"_microgpt_spec_{decorate.__name__}"
    if not getattr(fn, mark, False):
        wrapped = decorate(fn)
        setattr(wrapped, mark, True)
        setattr(owner, name, wrapped)


def settling_programs(fn):
    """Wrap a test (one example) so that the operations it sent to a program backend without
    waiting are done before it ends: an error among them fails this test, not a later one.
    (The grader's own wrapper does the same for its workers.)"""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        result = fn(*args, **kwargs)
        programs.settle_running()
        return result

    return wrapper


def convert_not_implemented(fn):
    """Wrap a test so a NotImplementedError ends it as not implemented, and so any other
    exception the backend raises is explained (the test's rule and the call that raised)
    rather than shown as a bare traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return fn(*args, **kwargs)
        except limits.SpecLimitExceeded as exceeded:
            explained = exceeded if exceeded.explained else limits.SpecLimitExceeded(
                explain_limit(fn, exceeded), exceeded.kind, explained=True)
        except NotImplementedError as error:
            raise NotImplementedPart.instead_of(error) from None
        except (AssertionError, HypothesisException):
            raise  # the spec's own verdicts (SpecFailure is an AssertionError) and hypothesis's signals
        except Exception as error:  # noqa: BLE001 - the learner's own exception: explain it
            raise SpecFailure(explain_crash(fn, error)) from error
        # Raised outside the except clause, so it does not hold the runaway's frames (and the
        # graph they built) alive while the report is written.
        raise explained

    return wrapper


def _rule_of(fn) -> str:
    """A spec test's rule in words: its name says it (test_decode_inverts_encode), and its
    docstring's first paragraph, when it has one, says more."""
    rule = fn.__name__.removeprefix("test_").replace("_", " ")
    doc = (fn.__doc__ or "").strip().split("\n\n")[0]
    return rule + (f" ({' '.join(doc.split())})" if doc else "")


def explain_crash(fn, error: BaseException) -> str:
    """Why a spec test failed with an exception of the backend's own (an IndexError in a
    learner's decode, say): the rule of the test, the spec's call that raised, and where."""
    area = fn.__module__.removeprefix(SPEC_MODULE_PREFIX)
    call, inner = _spec_call_and_backend_frames(error)
    where = (f"{inner[-1].filename}:{inner[-1].lineno}, in {inner[-1].name}" if inner
             else "in the spec's own code, reading what the backend returned (is it of the right type?)")
    test = fn.__name__
    headline = (f"{area}: the backend raised {type(error).__name__} in {test}." if inner else
                f"{area}: {type(error).__name__} in {test}, while the spec used what the backend returned.")
    return "\n".join([
        headline,
        f"  call:      {call}",
        f"  got:       {type(error).__name__}: {error}",
        "  expected:  a result (the test checks it against the rule below)",
        f"  raised at: {where}",
        f"  rule:      {_rule_of(fn)}",
        "  reproduce:",
        f"      pytest --pyargs microgpt_spec.conformance --backend={active_run().backend_spec} -k {test}",
        "      (the traceback above this message shows the line of your code that raised)",
    ])


def _spec_call_and_backend_frames(error: BaseException):
    """The spec's line that called the backend (the last frame in spec/), and the frames
    below it: the backend's own, the innermost last (the limits' handler left out)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename).resolve() != LIMITS_FILE]
    in_spec = [i for i, frame in enumerate(frames) if Path(frame.filename).resolve().is_relative_to(SPEC_DIR)]
    call = (frames[in_spec[-1]].line or "?").strip() if in_spec else "?"
    return call, (frames[in_spec[-1] + 1:] if in_spec else frames)


def explain_limit(fn, exceeded: BaseException) -> str:
    """Why a spec test was stopped: the limit it passed, what it was running, the usual cause."""
    area = fn.__module__.removeprefix(SPEC_MODULE_PREFIX)
    call, inner = _spec_call_and_backend_frames(exceeded)
    where = f"{inner[-1].filename}:{inner[-1].lineno}, in {inner[-1].name}" if inner else "in the spec's own code"
    time_limit = exceeded.kind == "time"
    option = "--spec-timeout=SECONDS" if time_limit else "--spec-memory=SIZE"
    return "\n".join([
        f"{area}: {fn.__name__} was stopped: it passed its {exceeded.kind} limit.",
        f"  limit:     {exceeded.msg}",
        f"  call:      {call}",
        f"  running:   {where}",
        f"  usual cause: {limits.TIME_CAUSE if time_limit else limits.MEMORY_CAUSE}",
        f"  rule:      {_rule_of(fn)}",
        f"  if your code is right but slow or big, raise the limit: {option} (0: no limit)",
        "  reproduce:",
        f"      pytest --pyargs microgpt_spec.conformance --backend={active_run().backend_spec} -k {fn.__name__}",
    ])


# --------------------------------------------------------------------------- limits
class SpecLimits:
    """Each spec test's time and memory limits (see microgpt_spec/limits.py)."""

    def __init__(self, config: pytest.Config) -> None:
        # pytest-timeout times the tests (a dependency, but `-p no:timeout` turns it off).
        self.seconds = (config.getoption("spec_timeout") or 0) if config.pluginmanager.has_plugin("timeout") else 0
        memory = config.getoption("spec_memory")
        self.memory = limits.MemoryWatch(memory) if memory and limits.MemoryWatch.available() else None
        self.interrupter = limits.Interrupter(self.memory)

    def pytest_report_header(self, config: pytest.Config) -> str:
        time_part = f"{self.seconds:g} s (--spec-timeout)" if self.seconds else "no time limit"
        memory_part = (f"{limits.describe_size(self.memory.limit)} of memory (--spec-memory)" if self.memory
                       else "no memory limit")
        return f"microgpt-spec limits per test: {time_part}, {memory_part}"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not self.seconds:
            return
        for item in items:
            if _is_spec_test(item) and item.get_closest_marker("timeout") is None:
                # func_only: the timer runs inside the test's call, where an interruption is
                # reported as that test's failure (never between pytest's own steps).
                item.add_marker(pytest.mark.timeout(self.seconds, func_only=True))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        watched = self.memory is not None and _is_spec_test(item)
        if watched:
            self.interrupter.begin_call(item.nodeid)
        try:
            yield
        finally:
            if watched:
                self.interrupter.end_call()


class SpecTimer:
    """pytest-timeout's timer, ending a spec test with SpecLimitExceeded (not a stack dump and
    pytest.fail, which hypothesis would catch and run again to shrink)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings):
        if not _is_spec_test(item) or not limits.timer_available():
            return None  # pytest-timeout's own timer
        import pytest_timeout

        limits.start_timer(item, settings.timeout, pytest_timeout.is_debugging)
        return True


# --------------------------------------------------------------------------- the run
class SpecRun:
    """The state of one conformance run: the loaded backends and the results per area."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._loaded: dict[str, LoadedBackend] = {}
        self.results = spec_report.Results()

    def load(self, option: str) -> LoadedBackend | None:
        spec = self.config.getoption(option)
        if not spec:
            return None
        if spec not in self._loaded:
            try:
                self._loaded[spec] = find_backend(spec)
            except BackendLoadError as error:
                raise pytest.UsageError(str(error)) from None
        return self._loaded[spec]

    # -- hooks
    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = [f"hypothesis profile: {settings._current_profile}"]
        for option in ("backend", "compare_backend"):
            loaded = self.load(option)
            if loaded:
                label = "backend under test" if option == "backend" else "compared with"
                lines.append(f"microgpt-spec {label}: {loaded.describe()}")
        return lines

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        loaded = self.load("backend")
        if loaded:
            self.config.stash[RUN_CONTEXT] = RunContext(loaded.spec, loaded.precision)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        # The checks deep inside a spec test (its fixtures' setup included) read the run's
        # context; it is theirs for this test only.
        if not _is_spec_test(item) or RUN_CONTEXT not in self.config.stash:
            yield
            return
        with checking(self.config.stash[RUN_CONTEXT]):
            yield

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        spec_items = [item for item in items if _is_spec_test(item)]
        if not spec_items:
            return
        _check_one_area_each(spec_items)
        if not config.getoption("backend"):
            raise pytest.UsageError("No backend chosen.\n" + no_backend_message())
        chosen = _selected_areas(config) or set(ALL_AREAS)
        if not config.getoption("compare_backend"):
            if "crosscheck" in _selected_areas(config):
                raise pytest.UsageError(
                    "--area=crosscheck compares two backends on identical inputs, and only one was "
                    "given: add the second with --compare-backend=NAME (e.g. --compare-backend=pure)")
            chosen.discard("crosscheck")  # it needs a second backend to compare with
        keep = [i for i in items if not _is_spec_test(i) or area_of(i) in chosen]
        if len(keep) < len(items):
            kept = set(map(id, keep))
            config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
            items[:] = keep
        for position, item in enumerate(items):
            if _is_spec_test(item):
                wrap_test(item, settling_programs)  # inside: what it raises is explained too
                wrap_test(item, convert_not_implemented)
                item._microgpt_spec_order = _read_first_rank(item, position)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        area = area_of(item)
        if area is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            status = spec_report.classify(report, call, NotImplementedPart)
            message = spec_report.message_of(call)
            if call.excinfo is not None and isinstance(call.excinfo.value, limits.SpecLimitExceeded):
                message = report.longrepr = _limit_message(item, call.excinfo.value)
            report.user_properties.extend(
                [("spec_area", area), ("spec_status", status), ("spec_message", message),
                 ("spec_uses", list(_uses_of(item, area))),
                 ("spec_order", list(getattr(item, "_microgpt_spec_order", (1, 0))))]
            )

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):
        # Collection reports have no user_properties: only test reports carry a status.
        if dict(getattr(report, "user_properties", ())).get("spec_status") == "not implemented":
            return "not implemented", "N", "NOT IMPLEMENTED"
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.results.record(report)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        if not self.results.has_any():
            return
        loaded = self.load("backend")
        title = loaded.describe() if loaded else "microgpt-spec"
        spec_report.write_table(terminalreporter, self.results, title)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        # Failures of areas beyond the reference (robustness) count in no verdict: when they
        # are the only failures, the run passes.
        if (session.exitstatus == pytest.ExitCode.TESTS_FAILED and not hasattr(self.config, "workerinput")
                and self.results.only_uncounted_failed()
                and session.testsfailed == sum(1 for t in self.results.tests.values() if t["status"] == "failed")):
            session.exitstatus = pytest.ExitCode.OK
        path = self.config.getoption("spec_json")
        if not path or hasattr(self.config, "workerinput") or not self.results.has_any():
            return
        loaded = self.load("backend")
        document = self.results.as_json(loaded.describe() if loaded else "")
        write_atomically(path, json.dumps(document, indent=1, sort_keys=True) + "\n")


def spec_results(config: pytest.Config) -> spec_report.Results:
    """The one record of the run's spec tests, which the table, --spec-json and the grader's
    results file are all made from."""
    return config.pluginmanager.get_plugin("microgpt_spec_run").results


def _limit_message(item: pytest.Item, exceeded) -> str:
    """The explanation alone, not the traceback (as deep as the runaway's recursion)."""
    if exceeded.explained:
        return exceeded.msg
    return explain_limit(getattr(item, "function", item.obj), exceeded)


def _check_one_area_each(items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        marks = [m.name for m in item.iter_markers() if m.name in ALL_AREAS]
        if len(marks) != 1:
            wrong.append(f"  {item.nodeid}: area markers {marks or 'none'}")
    if wrong:
        raise pytest.UsageError(
            "Every spec test must carry exactly one area marker "
            f"({', '.join(ALL_AREAS)}):\n" + "\n".join(wrong)
        )


def _uses_of(item: pytest.Item, area: str) -> tuple[str, ...]:
    """The areas whose code this test runs: its `uses` marker, else its area's dependencies."""
    marker = item.get_closest_marker("uses")
    return tuple(marker.args) if marker is not None else AREA_DEPENDS_ON.get(area, ())


def _read_first_rank(item: pytest.Item, position: int) -> tuple[int, int]:
    """Where a test stands in "start here" order: the tests its module lists in READ_FIRST
    (its most specific rules) in that order, then the rest in collection order."""
    function = getattr(item, "function", None)
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    read_first = list(getattr(module, "READ_FIRST", ()))
    name = getattr(item, "originalname", None) or item.name
    return (0, read_first.index(name)) if name in read_first else (1, position)


# --------------------------------------------------------------------------- fixtures
def _loaded_for(request: pytest.FixtureRequest, option: str) -> LoadedBackend | None:
    """The backend the option names, loaded once per run (None when the option is not given)."""
    run: SpecRun = request.config.pluginmanager.get_plugin("microgpt_spec_run")
    return run.load(option)


class SpecFixtures:
    """The spec's fixtures, registered only in the spec's runs (another project may have a
    fixture called `backend` of its own)."""

    @pytest.fixture(scope="session")
    @classmethod
    def backend(cls, request: pytest.FixtureRequest) -> BackendProxy:
        """The backend under test (`--backend`)."""
        loaded = _loaded_for(request, "backend")
        if loaded is None:
            raise pytest.UsageError("No backend chosen.\n" + no_backend_message())
        return BackendProxy(loaded)

    @pytest.fixture(scope="session")
    @classmethod
    def compare_backend(cls, request: pytest.FixtureRequest) -> BackendProxy:
        """The second backend of the crosscheck area (`--compare-backend`)."""
        loaded = _loaded_for(request, "compare_backend")
        if loaded is None:
            pytest.skip("crosscheck needs a second backend: add --compare-backend=NAME")
        return BackendProxy(loaded)

    @pytest.fixture(scope="session")
    @classmethod
    def spec_run(cls, request: pytest.FixtureRequest) -> RunContext:
        """The run's context: the backend as named (`backend_spec`), its `precision`, and
        `tol(area)`, the tolerance of an area at that precision."""
        return request.config.stash[RUN_CONTEXT]

