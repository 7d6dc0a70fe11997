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
