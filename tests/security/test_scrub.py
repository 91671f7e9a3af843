"""Registered secrets are masked in any text, the longest first."""

from __future__ import annotations

from monitor.secrets import MASK, register, scrub


def test_a_secret_that_contains_another_is_masked_whole_whichever_came_first() -> None:
    register("scrub-test-9f3a")
    register("scrub-test-9f3a-long-tail-77")
    text = "id=scrub-test-9f3a-long-tail-77 and scrub-test-9f3a"
    assert scrub(text) == f"id={MASK} and {MASK}"


def test_a_secret_registered_after_a_scrub_is_masked_by_the_next_one() -> None:
    assert scrub("late-secret-5b1c") == "late-secret-5b1c"
    register("late-secret-5b1c")
    assert scrub("say late-secret-5b1c") == f"say {MASK}"
