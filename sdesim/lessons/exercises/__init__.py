"""Each lesson's exercise self-check: ``check(answer, ...) -> Verdict``, one module per lesson (same stem)."""
