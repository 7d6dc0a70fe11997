# --- the battery's targets (filled in by tests/test_hostile.py) ---
import json as _json
import os as _os

T = _json.loads(r'''TARGETS_JSON''')


def escaped(what):
    print("ESCAPED:", what, flush=True)


def attempt(what, action):
    """Run an action the sandbox must refuse; say so loudly if it was not."""
    try:
        action()
    except BaseException:  # noqa: BLE001 - refused, as it should be
        return False
    escaped(what)
    return True


def append(path, text="# changed by an attack\n"):
    with open(path, "a") as handle:
        handle.write(text)
