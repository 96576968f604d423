"""rltf's unit-test feedback: coarse, fine-grained and adaptive rewards (RLTF, arXiv 2307.04349).

The provider ``unittest`` turns the judge's verdict on a program into the paper's three rewards,
each one switchable, because the paper's ablations train with every subset of them:

* ``coarse`` (kind ``"coarse"``, whole program): +1.0 pass, -0.3 failure, -0.6 runtime error or
  timeout, -1.0 compile error. ``coarse_rewards = {outcome = value, ...}`` replaces some values.
* ``adaptive`` (kind ``"adaptive"``, whole program): -0.3 + 1.3 * passed/(passed + failed) for a
  program that answers every test and fails some, as the method says and the released RLTF code
  does (``adaptive_scope = "failing"``, default); a crash, timeout or compile error gets none.
  ``adaptive_scope = "all"`` gives it to every outcome as -0.3 + 1.3 * passed/total (1.0 for a
  pass, -0.3 for a compile error), rltf's earlier rule.
* ``fine`` (kind ``"fine"``, value ``fine_penalty``, default -0.3): on the whole program for
  U_global errors (cut-off programs, timeouts, RecursionError), on the offending line for U_line
  errors (other syntax errors, exceptions raised at a line of the program), nothing for U_ignore
  (tab/space mixing, the judge's own errors, wrong answers, passes). A crash with no line (an
  early exit, a signal, a missing function) is U_global; ``unlocated = "ignore"`` follows the
  method's table, which ignores it. See ``rltf_unittest.errors``.

``alpha`` sets how a line penalty is weighed against whole-program rewards. The paper multiplies
it by alpha = T/(E-S+1) (program tokens over span tokens), so that a one-line span, averaged over
the program's tokens, still carries a whole reward's weight; the released RLTF code in effect used
alpha = 1. ``alpha = "paper"`` (default) marks line penalties ``rescale=True`` and the learner,
which alone knows token counts, applies T/(E-S+1); ``alpha = "one"`` marks them ``rescale=False``.

An unknown option is an error that names it and lists the valid ones.
"""

from .errors import ErrorClass, classify
from .provider import UnitTestFeedback, rltf_feedback_providers

__all__ = ["ErrorClass", "UnitTestFeedback", "classify", "rltf_feedback_providers"]
