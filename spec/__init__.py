"""The specification of microgpt: the backend contract, the independent oracle, the
hypothesis strategies, the assertion helpers and, in `areas/`, the tests by area."""
