"""Implementations of the microgpt contract (`microgpt_spec.spec.contract.Backend`)."""
