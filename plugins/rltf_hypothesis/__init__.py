"""More diverse tests: Hypothesis-generated inputs, expected outputs from the reference solution."""
