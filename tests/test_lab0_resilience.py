"""Lab 0 graders against the reference (full marks), the starter (0, "not implemented yet")
and the known-bug variants under tests/buggy/lab0_resilience (each caught by a named test)."""

from __future__ import annotations

import pytest

from graderun import (grade, variants, assert_all_not_implemented, assert_full_marks,
                      assert_variant_table)

PACKAGE = "lab0_resilience"
MODEL_TEST = "test_breaker_matches_model"

# variant -> (the fixed-scenario test that must catch it, the contract rule its output names)
CAUGHT = {
    "half_open_unlimited_trials": ("test_half_open_admits_one_trial", "rule B5"),
    "failures_never_reset": ("test_opens_after_consecutive_failures", "rule B2"),
    "reset_timeout_strict": ("test_reset_timeout_boundary", "rule B4"),
    "reopen_keeps_old_opened_at": ("test_half_open_admits_one_trial", "rule B6"),
    "stale_failure_reopens": (MODEL_TEST, "rule B7"),
    "stale_success_closes": (MODEL_TEST, "rule B7"),
    "retry_no_cap": ("test_backoff_full_jitter_under_cap", "rule R1"),
    "retry_no_jitter": ("test_backoff_full_jitter_under_cap", "rule R1"),
    "retry_global_random": ("test_backoff_full_jitter_under_cap", "rule R1"),
    "retry_attempt_from_one": ("test_backoff_full_jitter_under_cap", "rule R3"),
    "retry_sleeps_after_last": ("test_retry_attempts_and_last_error", "rule R5"),
    "retry_raises_new_error": ("test_retry_attempts_and_last_error", "rule R5"),
    "retry_swallows_error": ("test_retry_attempts_and_last_error", "rule R5"),
    "retry_retries_everything": ("test_retry_only_retryable", "rule R4"),
    "call_records_base_exception": ("test_breaker_boundaries", "rule B8"),
    "nested_open_error_not_counted": ("test_breaker_boundaries", "rule B8"),
    "threshold_accepts_float": ("test_breaker_boundaries", "rule B1"),
    "timeout_accepts_nan": ("test_breaker_boundaries", "rule B1"),
    "deadline_by_subtraction": ("test_breaker_boundaries", "rule B4"),
    "retry_on_only_exceptions": ("test_retry_boundaries", "rule R3"),
    "retry_overflows": ("test_retry_boundaries", "rule R1"),
    "retry_falsy_result": ("test_retry_boundaries", "rule R2"),
}
# Breaker bugs the stateful model test must catch as well (it should catch every one but the
# boundary cases, which its generated steps never reach).
BREAKER_BUGS = {name for name, (test, _) in CAUGHT.items()
                if not name.startswith("retry_") and test != "test_breaker_boundaries"}


def test_reference_scores_full_marks(tmp_path):
    assert_full_marks(grade(PACKAGE, "reference", tmp_path), 50, 11)


def test_starter_scores_zero_with_not_implemented_notes(tmp_path):
    run = grade(PACKAGE, "starter", tmp_path)
    assert_all_not_implemented(run)


def test_every_variant_is_in_the_table():
    assert_variant_table(PACKAGE, CAUGHT)


@pytest.mark.parametrize("variant", sorted(CAUGHT))
def test_variant_is_caught(variant, tmp_path):
    test_name, rule = CAUGHT[variant]
    wanted = [test_name] + ([MODEL_TEST] if variant in BREAKER_BUGS else [])
    run = grade(PACKAGE, f"tests/buggy/{PACKAGE}/{variant}", tmp_path,
                "-k", " or ".join(sorted(set(wanted))))
    for name in wanted:
        result = run.test(name)
        assert result["status"] == "failed", f"{variant} passed {name}"
        assert "internal error" not in result["output"], result["output"]
    caught = run.test(test_name)
    assert rule in caught["output"], f"{test_name} did not name {rule}:\n{caught['output']}"
    if variant in BREAKER_BUGS:
        model = run.test(MODEL_TEST)["output"]
        assert "Contract rule B" in model and "was broken" in model, model
        assert "What happened, step by step" in model and "state = BreakerContract()" in model, \
            model
