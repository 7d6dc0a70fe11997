"""docs/protocol.md describes every message `grading/protocol.py` declares, and the worker
serves exactly the requests declared there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from microgpt_spec.grading import protocol
from microgpt_spec.grading.serve import Worker

DOC = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")
NAMED = set(re.findall(r"`([a-z_]+)`", DOC))


@pytest.mark.parametrize("table", ["REQUESTS", "REPLY_FIELDS", "CALLBACK_FIELDS", "STARTUP", "ERROR_FIELDS", "TAGS",
                                   "DRAW_FIELDS"])
def test_the_page_names_everything_declared(table):
    missing = sorted(set(getattr(protocol, table)) - NAMED)
    assert missing == [], f"docs/protocol.md does not describe {table} {missing}"


def test_the_page_gives_the_current_version():
    assert f"Protocol version: **{protocol.VERSION}**" in DOC


def test_the_worker_serves_exactly_the_declared_requests():
    served = {name[3:] for name in vars(Worker) if name.startswith("do_")}
    assert served | {"rel"} == set(protocol.REQUESTS)


def test_every_failure_message_names_its_request():
    for kind, request in protocol.REQUESTS.items():
        assert protocol.describe([kind, 1, "x", "y", "z"]), kind
    assert protocol.describe(["call", protocol.BACKEND_HANDLE, "gpt", [], []]) == "backend.gpt()"
    assert protocol.describe(["get", 7, "grad"]) == "reading .grad"
    assert protocol.describe(None) == "a batch of operations"


def test_an_error_of_an_operation_sent_without_waiting_reaches_the_next_reply_even_in_a_later_batch(tmp_path):
    """The grader flushes every ASYNC_BATCH operations with no synchronous request: an error
    in that batch must still come back with the next reply, not vanish."""
    import os

    from microgpt_spec.grading.sandbox import AuditPolicy
    from microgpt_spec.spec.contract import Backend

    class Failing(Backend):
        def value(self, data):
            raise ValueError("no values here")

    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    worker = Worker(Failing(), to_worker_r, from_worker_w, AuditPolicy(tmp_path, [], ()), str(tmp_path))
    worker.run_batch({"a": [["acall", 1, protocol.BACKEND_HANDLE, "value", [2.0]]], "s": None})
    worker.run_batch({"a": [], "s": ["flush"]})
    reply = protocol.Reader(from_worker_r).message()
    assert reply["e"]["type"] == "ValueError" and "no values here" in reply["e"]["message"]
    worker.run_batch({"a": [], "s": ["flush"]})
    assert "e" not in protocol.Reader(from_worker_r).message()  # told once
    for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
        os.close(fd)
