"""The c backend: a program speaking the protocol on stdin/stdout (README.md here).

`--backend=c` starts it through its manifest, microgpt-backend.toml."""

from pathlib import Path

from microgpt_spec.programs import MANIFEST_NAME, program_backend, read_manifest


def Backend():
    """The running program, as a backend object (started now, built first when needed)."""
    return program_backend(read_manifest(Path(__file__).parent / MANIFEST_NAME))
