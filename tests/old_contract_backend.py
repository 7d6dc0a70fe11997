"""A backend written for contract 1.0: `train` takes `num_steps` and the resume arguments
one by one (start_step, stop_step, m, v, batch_size). Its steps are the pure backend's, so
it must still pass the training area and train from the command line: every caller reaches
`train` through `contract.call_train`, which speaks both versions.

    pytest conformance --backend=tests/old_contract_backend.py --area=training
"""

from __future__ import annotations

from microgpt_spec.backends.pure import PureBackend
from microgpt_spec.spec.contract import AdamHyper, Moments, Schedule


class Backend(PureBackend):
    name = "contract-1.0"

    def train(self, params, config, sequences, num_steps, *, hyper=AdamHyper(), start_step=0, stop_step=None,
              m=None, v=None, batch_size=1, on_step=None):
        schedule = Schedule(num_steps, start_step, stop_step, batch_size)
        moments = None if m is None else Moments(m, v)
        return super().train(params, config, sequences, schedule, hyper=hyper, moments=moments, on_step=on_step)


class WithoutBatches(Backend):
    """Contract 1.0 before batches: no batch_size parameter at all."""

    name = "contract-1.0-without-batches"

    def train(self, params, config, sequences, num_steps, *, hyper=AdamHyper(), start_step=0, stop_step=None,
              m=None, v=None, on_step=None):
        return super().train(params, config, sequences, num_steps, hyper=hyper, start_step=start_step,
                             stop_step=stop_step, m=m, v=v, on_step=on_step)
