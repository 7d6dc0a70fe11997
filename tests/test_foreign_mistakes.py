"""Backends in other languages with one real bug each: the spec rejects them in the right
area, with the message it gives a Python backend with the same bug (the rule, what came
back, what was expected), and passes the areas the bug does not touch.

Each case copies a complete program backend (backends/c, backends/js) into a temporary
folder, changes one line, and runs the conformance on it as `--backend=FOLDER`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spec_runs import REPO, spec_run

#: (language, file, the line as written, the mistaken line, the area that must fail, words
#: its message must hold, an area that must still pass)
MISTAKES = [
    ("js", "engine.js", "return new Value(positive ? this.data : 0, [this], [positive ? 1 : 0]);",
     "return new Value(positive ? this.data : 0, [this], [1]);", "ops", "relu", "tokenizer"),
    ("js", "adam.js", "const mCorrection = 1 - pymath.pow(beta1, step + 1);",
     "const mCorrection = 1 - pymath.pow(beta1, step);", "adam", "bias correction", "layers"),
    ("c", "engine.c", "return node(positive ? a->data : 0.0, a, positive ? 1.0 : 0.0, NULL, 0, error);",
     "return node(positive ? a->data : 0.0, a, 1.0, NULL, 0, error);", "ops", "relu", "tokenizer"),
    ("c", "sampling.c", "for (int i = 0; i < V; i++) scaled[i] = logits[i] * inverse_t;",
     "for (int i = 0; i < V; i++) scaled[i] = logits[i];", "sampling", "temperature", "adam"),
]
TOOLS = {"js": "node", "c": "cc"}


def mistaken_copy(language: str, file: str, written: str, mistaken: str, folder: Path) -> Path:
    shutil.copytree(REPO / "backends" / language, folder,
                    ignore=shutil.ignore_patterns("__init__.py", "__pycache__", "*.md"))
    source = folder / file
    text = source.read_text()
    assert text.count(written) == 1, f"backends/{language}/{file} no longer holds the line this case changes"
    source.write_text(text.replace(written, mistaken))
    return folder


@pytest.mark.slow  # four conformance runs, about a minute of CPU: CI's slow step
@pytest.mark.parametrize("language, file, written, mistaken, area, words, sound", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}-{m[4]}" for m in MISTAKES])
def test_a_foreign_backend_with_a_bug_fails_in_the_right_area_with_a_clear_message(
        tmp_path, monkeypatch, language, file, written, mistaken, area, words, sound):
    if shutil.which(TOOLS[language]) is None:
        pytest.skip(f"no {TOOLS[language]} on this machine: the {language} backend cannot run")
    monkeypatch.setenv("MICROGPT_SPEC_CACHE", str(tmp_path / "cache"))
    backend = mistaken_copy(language, file, written, mistaken, tmp_path / f"mistaken_{language}")
    report = spec_run(str(backend), tmp_path / "report.json", [area, sound], profile="quick")
    areas = report["areas"]
    assert areas[area]["verdict"] == "FAIL", (area, report["stdout"][-3000:])
    assert areas[sound]["verdict"] == "PASS", (sound, report["stdout"][-3000:])
    messages = " ".join(t["message"] for t in report["tests"] if t["area"] == area and t["status"] == "failed")
    assert words in messages.lower(), messages[:3000]
    assert "expected" in messages.lower(), messages[:3000]
