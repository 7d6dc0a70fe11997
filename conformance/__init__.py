"""The conformance run: `pytest conformance --backend=NAME`.

Each `test_<area>.py` here imports the tests of one spec area; the pytest plugin of
microgpt_spec supplies the backend. Installed as `microgpt_spec.conformance`, so the same
run works outside a checkout: `pytest --pyargs microgpt_spec.conformance --backend=NAME`.
"""
