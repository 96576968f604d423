"""Static-analysis feedback from pylint, as rewards on the lines of each message.

Unit tests say whether a program works; pylint also points at lines that are likely wrong even
when the tests pass (an unused variable, a name that is never defined on some path, a
comparison that is always true). The provider ``pylint`` gives one reward per pylint message,
on the message's lines (``Reward.on_lines``, ``rescale=False``): ``kind`` is the message's
category and ``value`` that category's penalty.

Options (``[feedback.pylint]`` in a run's config)
-------------------------------------------------

``penalties`` (table, category -> value)
    The reward of a message of each category; categories left out keep their default. A value
    of 0 gives no reward at all.

    ============  =======  =====================================================
    category      default  pylint's meaning
    ============  =======  =====================================================
    error         -0.3     probable bug (undefined name, syntax error, bad call)
    warning       -0.1     python-specific problem (unused variable, bare except)
    refactor      -0.05    code smell (inconsistent returns, needless branches)
    convention    -0.02    coding-standard violation
    info          0        pylint's own notes: no reward
    ============  =======  =====================================================

    pylint's sixth category, ``fatal``, means pylint itself failed on the program (it crashed
    or could not build its syntax tree): the program gets no rewards and the provider raises
    ``PylintFailure``, which the registry reports against that sample.

``disable`` (list of pylint message names or ids, or one comma-separated string)
    Messages to switch off, in addition to the defaults below. pylint's categories (``"C"``)
    and checker names (``"design"``) work too. An unknown name is an error.

``enable`` (same form)
    Messages to switch on, applied after ``disable``: a default-disabled message, or one pylint
    leaves off by default. ``duplicate-code`` and ``cyclic-import`` stay off and naming them is
    an error: they compare the programs of a batch with one another, so one sample's rewards
    would depend on the others in its batch.

``timeout_s`` (number, default 10)
    How long pylint may take over parsing or linting any one program before its worker process
    is killed and the batch fails (the registry then scores the batch's samples one by one, so
    only the culprit loses its rewards).

An unknown option is an error that names it and lists the valid ones.

Disabled by default
-------------------

Messages that say nothing about whether a generated solution is correct, only about how it
is documented, named, laid out or sized; references that pass every test trip them all the
time (over MBPP's 974 reference solutions: a missing docstring in every one, a missing final
newline in 956, indentation other than four spaces a level in 559, ``invalid-name`` in 286):

* documentation and naming: ``missing-module-docstring``, ``missing-class-docstring``,
  ``missing-function-docstring``, ``empty-docstring``, ``invalid-name``, ``disallowed-name``;
* layout and formatting: ``line-too-long``, ``too-many-lines``, ``trailing-whitespace``,
  ``missing-final-newline``, ``trailing-newlines``, ``multiple-statements``,
  ``superfluous-parens``, ``mixed-line-endings``, ``unexpected-line-ending-format``,
  ``bad-indentation``, ``unnecessary-semicolon``;
* import placement and order: ``wrong-import-order``, ``wrong-import-position``,
  ``ungrouped-imports``, ``multiple-imports``, ``import-outside-toplevel``;
* size limits: ``too-many-ancestors``, ``too-many-instance-attributes``,
  ``too-few-public-methods``, ``too-many-public-methods``, ``too-many-return-statements``,
  ``too-many-branches``, ``too-many-arguments``, ``too-many-positional-arguments``,
  ``too-many-locals``, ``too-many-statements``, ``too-many-boolean-expressions``,
  ``too-many-nested-blocks``;
* style of control flow and strings: ``no-else-return``, ``no-else-raise``,
  ``no-else-break``, ``no-else-continue``, ``consider-using-f-string``.

What the program is not allowed to change
-----------------------------------------

The program is untrusted input. pylint only parses it (nothing of it runs), in a worker process
of its own (``rltf_pylint.server``) with a memory cap and the time limit above, started once and
reused for every batch. ``# pylint: disable=...`` and ``# pylint: skip-file`` comments in the
program are ignored: a policy must not learn to silence its own penalties. No configuration
file is read, so the project's or user's pylintrc cannot change the rewards either.

Names that the problem's ``program_preamble`` binds (the APPS import header: ``List``, ``np``,
``heappush``...) count as defined, since the judge runs the preamble in the program's namespace;
the preamble itself is not linted.

Cost
----

One worker process per provider, started on first use (about a quarter of a second) and
stopped by ``PylintFeedback.close()``, garbage collection or interpreter exit; per program a few
milliseconds on MBPP-sized programs, less in larger batches. See
``benchmarks/results/pylint_cost.md``.
"""

from .provider import DEFAULT_DISABLED, PENALTIES, PylintFeedback, Settings, rltf_feedback_providers
from .worker import PylintFailure

__all__ = ["DEFAULT_DISABLED", "PENALTIES", "PylintFailure", "PylintFeedback", "Settings", "rltf_feedback_providers"]
