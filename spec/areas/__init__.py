"""The spec's tests, one module per area.

These modules are not collected by themselves (their names do not start with `test_`):
`conformance/test_<area>.py` imports each one, which binds it to the backend chosen with
`--backend`. Every test takes the `backend` fixture and carries its area's marker (set once
per module with `pytestmark`).
"""
