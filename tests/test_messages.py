"""Every failure names its real cause, and never a wrong one.

Each test runs the spec, in a process of its own, on a backend that makes one mistake (see
`mistaken_backends.py`), and reads the report: the message of the failing test must name the
mistake's real cause, and must not name the cause that a quick reading would guess.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mistaken_backends as mb
from spec_runs import spec_run

HERE = Path(__file__).resolve().parent
FLOAT32_HINT = "the size float32 arithmetic makes"


def spec_report(mistake: type, areas: str, tmp_path: Path, *extra: str) -> dict:
    """The JSON report of a conformance run of `mistake` over `areas` (comma-separated)."""
    return spec_run(f"{HERE / 'mistaken_backends.py'}:{mistake.__name__}", tmp_path / f"{mistake.__name__}.json",
                    areas.split(","), *extra)


def named_tests(report: dict, fragment: str) -> list[dict]:
    return [t for t in report["tests"] if fragment in t["nodeid"]]


def failed(report: dict, area: str | None = None) -> list[dict]:
    return [t for t in report["tests"] if t["status"] == "failed" and (area is None or t["area"] == area)]


def messages(tests: list[dict]) -> str:
    return "\n\n".join(t["message"] for t in tests)


# --------------------------------------------------------------------------- the float32 hint
def test_float32_hint_appears_for_float32_arithmetic(tmp_path):
    report = spec_report(mb.Float32Arithmetic, "layers", tmp_path, "-k", "linear or softmax or rmsnorm or mlp")
    layers = failed(report, "layers")
    assert layers, "a float32 engine declaring float64 must fail the layers area"
    hinted = [t for t in layers if FLOAT32_HINT in t["message"]]
    # Every failure whose errors are within float32's tolerance carries the hint.
    assert len(hinted) >= len(layers) // 2, messages(layers)


# Each run is narrowed to the tests where its mistake shows (a whole area is seconds of CPU).
@pytest.mark.parametrize("mistake, areas, tests", [(mb.LogPlusTinyEpsilon, "ops,loss", "log or loss_and_grads"),
                                                   (mb.RmsnormEpsTenfold, "layers", "rmsnorm or gpt"),
                                                   (mb.GradsNotReset, "adam,training", "steps or golden")],
                         ids=["1e-10 relative", "rmsnorm eps 1e-4", "grads not reset"])
def test_float32_hint_stays_away_from_errors_of_other_sizes(tmp_path, mistake, areas, tests):
    report = spec_report(mistake, areas, tmp_path, "-k", tests)
    assert failed(report), f"{mistake.__name__} must fail somewhere in {areas}"
    assert FLOAT32_HINT not in messages(failed(report))


# --------------------------------------------------------------------------- gradients vs the backend's own loss
def test_a_different_but_self_consistent_model_is_not_told_its_backward_is_wrong(tmp_path):
    report = spec_report(mb.RmsnormEpsTenfold, "loss", tmp_path)
    [finite_differences] = named_tests(report, "central_finite_differences")
    assert finite_differences["status"] == "passed", finite_differences["message"]
    assert failed(report, "loss"), "its loss differs from the reference's: the oracle tests must say so"


def test_a_wrong_gradient_is_told_it_is_unlike_the_slope_of_its_own_loss(tmp_path):
    report = spec_report(mb.LogDerivative, "loss", tmp_path, "-k", "central_finite_differences")
    [finite_differences] = named_tests(report, "central_finite_differences")
    assert finite_differences["status"] == "failed"
    assert "unlike the slope of its own loss" in finite_differences["message"]
    assert "backward (gradient) mistake" in finite_differences["message"]


# --------------------------------------------------------------------------- resuming
def test_resuming_is_judged_against_the_backend_itself(tmp_path):
    report = spec_report(mb.RmsnormEpsTenfold, "training", tmp_path, "-k", "resumed")
    resumed = named_tests(report, "resumed")
    assert resumed and all(t["status"] == "passed" for t in resumed), messages(resumed)


def test_a_resume_that_forgets_adams_moments_is_named(tmp_path):
    report = spec_report(mb.ResumeForgetsMoments, "training", tmp_path, "-k", "resumed")
    resumed = named_tests(report, "resumed")
    assert resumed and all(t["status"] == "failed" for t in resumed)
    text = messages(resumed)
    assert "your own uninterrupted run" in text and "Adam's moments carry over" in text


# --------------------------------------------------------------------------- adam
BIAS_CITED = "bias correction divides by 1 - beta**(s+1)"
DECAY_CITED = "the learning rate decays linearly over the schedule"


@pytest.mark.parametrize("mistake, named, not_named", [
    (mb.AdamWithWeightDecay, "nothing else moves p", (BIAS_CITED, DECAY_CITED)),
    (mb.AdamWithGradientClipping, "no clipping, no rescaling", (BIAS_CITED, DECAY_CITED)),
    (mb.AdamCosineSchedule, DECAY_CITED, (BIAS_CITED,)),
], ids=["weight decay", "clipping", "cosine schedule"])
def test_adam_failures_cite_the_rule_of_the_quantity_that_is_wrong(tmp_path, mistake, named, not_named):
    report = spec_report(mistake, "adam", tmp_path, "-k", "bias_correction or learning_rate_decays")
    tests = failed(report, "adam")
    assert tests, f"{mistake.__name__} must fail the bias-correction or the decay test"
    for test in tests:
        assert named in test["message"], test["message"]
        for wrong in not_named:
            assert wrong not in test["message"], test["message"]


def test_adam_names_the_real_bias_and_decay_mistakes(tmp_path):
    no_bias = spec_report(mb.AdamWithoutBiasCorrection, "adam", tmp_path, "-k", "bias_correction")
    assert all(BIAS_CITED in t["message"] for t in failed(no_bias)) and failed(no_bias)
    no_decay = spec_report(mb.AdamWithoutLrDecay, "adam", tmp_path, "-k", "learning_rate_decays")
    assert failed(no_decay) and all(DECAY_CITED in t["message"] and "not decayed" in t["message"]
                                    for t in failed(no_decay))


# --------------------------------------------------------------------------- generate
def test_generate_with_tied_weights_is_told_its_model_differs_not_that_it_skips_bos(tmp_path):
    report = spec_report(mb.TiedLmHead, "sampling", tmp_path, "-k", "generate_stops_when_it_draws_bos")
    [stops] = named_tests(report, "generate_stops_when_it_draws_bos")
    assert stops["status"] == "failed"
    assert "the model's logits differ there" in stops["message"]
    assert "lm_head" in stops["message"]
    assert "went on after drawing BOS" not in stops["message"]


def test_generate_that_skips_bos_is_told_so(tmp_path):
    report = spec_report(mb.GenerateSkipsBos, "sampling", tmp_path, "-k", "generate_stops_when_it_draws_bos")
    [stops] = named_tests(report, "generate_stops_when_it_draws_bos")
    assert stops["status"] == "failed"
    assert "went on after drawing BOS" in stops["message"]
    assert "the model's logits differ" not in stops["message"]


# --------------------------------------------------------------------------- the area notes
def test_fix_first_names_only_failed_areas_the_failing_tests_use(tmp_path):
    report = spec_report(mb.UnfinishedWithWrongInit, "ops,autograd,training", tmp_path)
    areas = report["areas"]
    assert areas["training"]["verdict"] == "FAIL"
    assert areas["autograd"]["verdict"] == "not implemented"
    assert "autograd" not in areas["training"]["note"] and "ops" not in areas["training"]["note"]
    assert "fix that first" not in areas["training"]["note"]


def test_fix_first_still_points_at_a_failed_area_a_test_uses(tmp_path):
    report = spec_report(mb.LogDerivative, "ops,loss", tmp_path)
    assert report["areas"]["ops"]["verdict"] == "FAIL"
    assert report["areas"]["loss"]["note"] == "uses ops: fix that first"


# --------------------------------------------------------------------------- the learner's own exception
def test_an_exception_in_the_learners_code_gets_the_rule_and_the_call(tmp_path):
    report = spec_report(mb.DecodeIndexError, "tokenizer", tmp_path)
    [decode] = named_tests(report, "test_decode_leaves_bos_out")
    assert decode["status"] == "failed"
    message = decode["message"]
    assert message.startswith("tokenizer: the backend raised IndexError in test_decode_leaves_bos_out")
    assert "call:      got = tok.decode(list(tok.sequence(doc)))" in message
    assert "rule:      decode leaves bos out" in message
    assert "raised at: " in message and "mistaken_backends.py" in message and "in <genexpr>" in message
    assert "Traceback" not in message


# --------------------------------------------------------------------------- where to start
@pytest.mark.parametrize("mistake, area, start, says", [
    (mb.RmsnormWithoutEps, "layers", "test_rmsnorm", "rmsnorm"),
    (mb.GradientsOverwritten, "autograd", "test_node_used_twice_in_one_op_collects_both_contributions", "x.grad"),
    (mb.AdamWithoutLrDecay, "adam", "test_", "not decayed"),
], ids=["rmsnorm", "gradients overwritten", "no lr decay"])
def test_each_failing_area_says_where_to_start(tmp_path, mistake, area, start, says):
    report = spec_report(mistake, area, tmp_path)
    assert len(failed(report, area)) > 1, "the point: several failures, one to read first"
    start_here = report["areas"][area]["start_here"]
    assert start in start_here["test"], start_here
    assert start_here["headline"].startswith(area) and says in start_here["headline"], start_here
    assert f"start here for {area}: {start}" in report["stdout"]


# --------------------------------------------------------------------------- the gaps
def test_top_k_sampling_is_caught_directly(tmp_path):
    report = spec_report(mb.TopKSampler, "sampling", tmp_path, "-k", "every_id")
    tests = named_tests(report, "every_id")
    assert tests and all(t["status"] == "failed" for t in tests)
    assert "top-k" in messages(tests)


def test_generate_stopping_one_early_is_caught_directly(tmp_path):
    report = spec_report(mb.GenerateStopsOneEarly, "sampling", tmp_path, "-k", "generate_stops_after_block_size")
    [test] = named_tests(report, "generate_stops_after_block_size")
    assert test["status"] == "failed"
    assert "stopped one position early" in test["message"]


@pytest.mark.parametrize("mistake, named", [(mb.BatchLossSummed, "the SUM of its"),
                                            (mb.BatchWrongSequences, "s*B, s*B + 1")],
                         ids=["summed", "wrong sequences"])
def test_batched_training_mistakes_are_caught(tmp_path, mistake, named):
    report = spec_report(mistake, "training", tmp_path, "-k", "batched")
    tests = named_tests(report, "batched")
    assert tests and all(t["status"] == "failed" for t in tests)
    assert named in messages(tests)
