# Forging the protocol from inside: the worker's own reply function, patched to send fields
# that do not fit (a result with an unknown tag, class ids that are not lists, a class
# description that is not one), hoping to crash the grader rather than fail its own tests.
import gc as _gc

from microgpt_spec.grading import serve as _serve

_FORGERIES = [{"r": {"zz": 1}}, {"hc": "not a list"}, {"cls": {"1": "not a description"}},
              {"pf": [[1]]}, {"kv": {"keys": 5}}]


def _forge():
    for worker in [o for o in _gc.get_objects() if isinstance(o, _serve.Worker)]:
        original = worker.reply
        forgeries = iter(_FORGERIES * 100)

        def reply(document, original=original, forgeries=forgeries):
            document.update(next(forgeries, {}))
            original(document)

        worker.reply = reply


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        _forge()
        return super().build_tokenizer(docs)
