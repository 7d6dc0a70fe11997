"""The PyTorch backend: what the conformance run does not already check.

The spec itself is run on it with `pytest conformance --backend=torch` (and on the float32
variant with `--backend=microgpt_spec.backends.torch:Float32Backend`). Here: the options
(precision, device), the clear error without torch, a float32 backend that claims
float64, torch-specific node behaviour, and that nothing else imports torch.
"""

from __future__ import annotations

import importlib.util
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from microgpt_spec.registry import BackendLoadError, find_backend
from microgpt_spec.spec.contract import AdamHyper, Config, Schedule

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- without torch
def test_without_torch_the_registered_name_says_how_to_install_it():
    # A fresh interpreter in which `import torch` fails, as on a machine without the extra.
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
        from microgpt_spec.registry import BackendLoadError, find_backend
        try:
            find_backend("torch")
        except BackendLoadError as error:
            print(error)
        else:
            print("loaded")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "--backend=torch: the registered backend microgpt_spec.backends.torch:Backend failed to load" in out
    assert "ImportError" in out and "pip install -e '.[torch]'" in out


def test_nothing_outside_the_torch_backend_imports_torch():
    importing = re.compile(r"^\s*(import torch\b|from torch\b)", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("microgpt_spec", "spec", "backends", "conformance", "data", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if path.relative_to(ROOT).parts[:2] != ("backends", "torch")
        and importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# --------------------------------------------------------------------------- with torch
# Everything below needs the extra: pip install -e ".[torch]".
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_CUDA = False
if HAS_TORCH:
    import torch

    from microgpt_spec.backends.torch import DEVICE_ENV, TorchBackend
    from microgpt_spec.backends.torch.backend import resolve_device

    HAS_CUDA = torch.cuda.is_available()
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs the torch extra: pip install -e '.[torch]'")


@needs_torch
def test_registered_name_is_float64_on_the_cpu(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    loaded = find_backend("torch")
    assert loaded.precision == "float64"
    assert loaded.backend.dtype == torch.float64
    assert loaded.backend.device == torch.device("cpu")


@needs_torch
def test_float32_variant_declares_float32():
    loaded = find_backend("microgpt_spec.backends.torch:Float32Backend")
    assert loaded.precision == "float32"
    assert loaded.backend.dtype == torch.float32
    assert isinstance(loaded.backend.value(1.5).tensor, torch.Tensor)
    assert loaded.backend.value(1.5).tensor.dtype == torch.float32


@needs_torch
def test_dtype_argument_sets_what_is_computed_and_declared():
    backend = TorchBackend(dtype="float32")
    assert (backend.precision, backend.dtype) == ("float32", torch.float32)
    with pytest.raises(ValueError, match="dtype must be one of"):
        TorchBackend(dtype="float16")


@needs_torch
def test_device_auto_takes_cuda_only_where_there_is_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@needs_torch
@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_a_clear_load_error(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(BackendLoadError, match="sees no CUDA device here"):
        find_backend("torch")


@needs_torch
def test_device_from_the_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "auto")
    assert find_backend("torch").backend.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(DEVICE_ENV, "tpu9")
    with pytest.raises(BackendLoadError, match="unknown torch device"):
        find_backend("torch")


@needs_torch
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_gives_the_cpu_results():
    config = Config(vocab_size=5, n_embd=8, n_head=2, block_size=4)
    cpu, cuda = TorchBackend(), TorchBackend(device="cuda")
    params = cpu.init_params(config, random.Random(1))
    tokens = [4, 0, 1, 2, 4]
    cpu_loss, cpu_grads = cpu.loss_and_grads(params, config, tokens)
    cuda_loss, cuda_grads = cuda.loss_and_grads(params, config, tokens)
    assert cuda_loss == pytest.approx(cpu_loss, rel=1e-12)
    assert cuda.generate(params, config, 0.5, random.Random(3)) == cpu.generate(params, config, 0.5, random.Random(3))


# --------------------------------------------------------------------------- nodes
@needs_torch
def test_node_grads_read_zero_until_reached_and_accumulate():
    backend = TorchBackend()
    a, b, unused = backend.value(2.0), backend.value(-3.0), backend.value(5.0)
    assert (a.grad, unused.grad) == (0.0, 0.0)
    c = a * b + a  # dc/da = b + 1 = -2, dc/db = a = 2
    c.backward()
    assert (a.grad, b.grad, c.grad, unused.grad) == (-2.0, 2.0, 1.0, 0.0)
    c.backward()  # a second pass adds to the first, as in the reference
    assert (a.grad, b.grad) == (-4.0, 4.0)


@needs_torch
def test_intermediate_nodes_keep_their_gradient():
    backend = TorchBackend()
    x = backend.value(3.0)
    y = x * x  # a non-leaf: torch keeps its grad only because the node asks for it
    z = y.log()
    z.backward()
    assert y.grad == pytest.approx(1 / 9)
    assert x.grad == pytest.approx(2 / 3)


@needs_torch
def test_an_unset_grad_counts_as_zero_and_the_node_still_moves():
    # torch.optim.Adam skips a tensor whose .grad is None; the spec moves every parameter
    # every step (momentum). Same script on the pure backend, same numbers: had torch
    # skipped nodes[1] at step 1, its value would be the one after step 0.
    def script(backend):
        nodes = [backend.value(1.0), backend.value(-1.0)]
        opt = backend.adam(nodes, AdamHyper())
        nodes[0].grad, nodes[1].grad = 0.5, -0.25
        opt.step(0, 10)
        nodes[0].grad = 0.125  # nodes[1].grad left unset: None inside torch
        opt.step(1, 10)
        return [n.data for n in nodes], [n.grad for n in nodes], [float(x) for x in opt.m]

    data, grads, m = script(TorchBackend())
    pure_data, _, pure_m = script(find_backend("pure").backend)
    assert data == pytest.approx(pure_data, rel=1e-14)
    assert m == pytest.approx(pure_m, rel=1e-14)
    assert grads == [0.0, 0.0]  # and each grad reads 0 after the step


# --------------------------------------------------------------------------- same draws as the reference
@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sampling_draws_the_ids_the_pure_backend_draws(dtype):
    backend = TorchBackend(dtype=dtype)
    pure = find_backend("pure").backend
    chooser = random.Random(0)
    for seed in range(50):
        logits = [chooser.uniform(-3, 3) for _ in range(27)]
        ours = [backend.sample_next(logits, 0.5, rng) for rng in [random.Random(seed)] for _ in range(10)]
        theirs = [pure.sample_next(logits, 0.5, rng) for rng in [random.Random(seed)] for _ in range(10)]
        assert ours == theirs, seed


@needs_torch
def test_batch_loss_is_the_mean_of_the_sequence_losses():
    backend = TorchBackend()
    config = Config(vocab_size=6, n_embd=8, n_head=2, block_size=5)
    params = backend.init_params(config, random.Random(4))
    sequences = [[5, 0, 1, 5], [5, 2, 3, 4, 0, 1, 2, 5], [5, 4, 5]]  # the second one is cut at block_size
    batched = backend.train(params, config, sequences, Schedule(1, batch_size=3), hyper=AdamHyper(lr=0.0))
    single = [backend.loss_and_grads(params, config, seq)[0] for seq in sequences]
    assert batched.losses[0] == pytest.approx(sum(single) / 3, rel=1e-12)


# --------------------------------------------------------------------------- precision honesty
FLOAT32_CLAIMING_FLOAT64 = """
from microgpt_spec.backends.torch import Float32Backend


class Backend(Float32Backend):
    name = "torch-float32-claiming-float64"
    precision = "float64"  # what it declares; it still computes in float32
"""

ONE_TEST = ["--area=loss", "-k", "test_loss_and_grads_match_the_oracle_with_the_default_config"]


def run_spec(pytester, source: str, *args: str):
    pytester.makepyfile(mine=textwrap.dedent(source))
    return pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--backend=mine.py",
                                         "-p", "no:cacheprovider", "-p", "no:xdist", *args)


@needs_torch
def test_a_float32_backend_that_claims_float64_fails_and_is_told_why(pytester):
    result = run_spec(pytester, FLOAT32_CLAIMING_FLOAT64, *ONE_TEST)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*the errors are the size float32 arithmetic makes*",
                                 "*declare precision = 'float32'*"])


@needs_torch
def test_the_same_backend_declaring_float32_passes(pytester):
    honest = FLOAT32_CLAIMING_FLOAT64.replace('precision = "float64"', 'precision = "float32"')
    result = run_spec(pytester, honest, *ONE_TEST)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*loss*PASS*"])
