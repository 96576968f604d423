"""A problem as model input: the placeholders a prompt template may use, filled in one place.

The trainer (``model.prompt_template``) and ``rltf bench`` (its template files) fill the
same placeholders the same way, so a model is benchmarked on exactly the prompt format it
was trained on.
"""

from __future__ import annotations

import string

from rltf.errors import DataError
from rltf.problems import AssertTests, CallTests, Problem

TEMPLATE_FIELDS = ("prompt", "starter_code", "starter_code_block", "entry_point", "tests", "apps_format")
SHOWN_TESTS = 3


def prompt_fields(problem: Problem) -> dict[str, str]:
    """``{tests}``: the first three assert-style tests, as MBPP's usual prompt shows them (the only
    place MBPP names the function to write). ``{apps_format}``: the line the APPS and CodeRL
    prompts use to say how the program is tested; ``{starter_code_block}``: the starter code
    after a line break, or nothing, as CodeRL adds it."""
    tests = problem.tests
    shown = "\n".join(tests.asserts[:SHOWN_TESTS]) if isinstance(tests, AssertTests) else ""
    style = "Use Call-Based format" if isinstance(tests, CallTests) else "Use Standard Input format"
    block = "\n" + problem.starter_code if problem.starter_code else ""
    return {"prompt": problem.prompt, "starter_code": problem.starter_code, "starter_code_block": block,
            "entry_point": problem.entry_point or "",
            "tests": shown, "apps_format": style}


def fill(template: str, problem: Problem) -> str:
    return template.format(**prompt_fields(problem))


def check_template(template: str, source: str, field: str) -> None:
    """A template is checked when it is read, so a typo costs one line, not a run."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise DataError(source, f"not a valid template ({error}); write literal braces as {{{{ }}}}",
                        field=field) from None
    unknown = sorted(names - set(TEMPLATE_FIELDS))
    if unknown or "prompt" not in names:
        problem = f"unknown placeholder {{{unknown[0]}}}" if unknown else "must contain {prompt}"
        raise DataError(source, f"{problem}; placeholders: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}",
                        field=field)
