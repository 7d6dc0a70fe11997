# The same wrong layers, which also zero the grader's input lists in place, hoping that the
# expected values are computed from them after the call.
def _zero(rows):
    for i, row in enumerate(rows):
        if isinstance(row, list):
            _zero(row)
        else:
            rows[i] = 0.0


class Backend(GoodBackend):
    def linear(self, x, w):
        _zero(x), _zero(w)
        return [0.0] * len(w)

    def softmax(self, logits):
        _zero(logits)
        return [0.0] * len(logits)

    def rmsnorm(self, x):
        _zero(x)
        return [0.0] * len(x)

    def mlp(self, x, fc1, fc2):
        _zero(x), _zero(fc1), _zero(fc2)
        return [0.0] * len(fc2)
