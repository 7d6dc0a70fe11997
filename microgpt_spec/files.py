"""Replacing a file so that whoever reads it sees the old content or the new, never half.

Every file the project writes whole goes through `write_atomically`: a run's checkpoint,
metrics and plot, the `--spec-json` report, the golden traces, `names.txt`, the grader's
results and reports. The new content goes to a temporary file in the same folder (the
same file system), is flushed to disk, and is then renamed over the old name: a rename
within one folder is atomic. On any error (a full disk, Ctrl-C) the temporary file is
removed and the old file is left as it was.

The file's permissions: a file that exists keeps its own (a golden trace or `names.txt` as
the checkout has it); a new file gets the usual ones, what `open()` would give (0o666 less
the umask). `tempfile.mkstemp` makes a private file (0o600), which would otherwise leak into
every file written this way. No writer needs a private file: the grader keeps its private
work in folders only it can enter (grading/runner.py), so the folder, not the file, guards it.

Only the standard library: `data/build_names.py` also runs as a script from a checkout.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | os.PathLike[str], content: bytes | str) -> Path:
    """Replace `path` by `content` (text is written as UTF-8); return the path."""
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """The permission bits the new content gets: the old file's, else the usual ones."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it, so put it straight back
    os.umask(mask)
    return mask
