"""Held-out pass@1 of greedy programs: the number a run reports before and after RL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rltf.evaluation.scores import SampleResult, summarize
from rltf.judge import Judge, JudgeResult, Submission
from rltf.policy import Policy
from rltf.problems import Problem


@dataclass(frozen=True)
class Evaluation:
    pass_at_1: float
    problems: int
    outcomes: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        return {"pass@1": self.pass_at_1, "problems": self.problems, "outcomes": self.outcomes}


def greedy_verdicts(policy: Policy, problems: Sequence[Problem], judge: Judge, *, max_new_tokens: int,
                    batch_size: int, stop: Sequence[str] = (),
                    progress: Callable[[int], None] | None = None) -> list[JudgeResult]:
    """One greedy program per problem, judged. Separate from the scoring, so that ranks can
    judge their shares and one place can score the whole set."""
    from rltf.actor import cut_at_stop

    programs = []
    for start in range(0, len(problems), batch_size):
        chunk = problems[start:start + batch_size]
        prompts = policy.encode_prompts([policy.prompt_text(p) for p in chunk])
        for problem, (ids, _) in zip(chunk, policy.generate(prompts, sample=False, max_new_tokens=max_new_tokens)):
            programs.append(problem.program(cut_at_stop(policy.decode(ids), stop)[0]))
        if progress:
            progress(len(chunk))
    return judge.run([Submission(p, program) for p, program in zip(problems, programs)])


def evaluation_of(problems: Sequence[Problem], verdicts: Sequence[JudgeResult]) -> Evaluation:
    """With one greedy sample per problem, pass@1 is the pass rate."""
    if not verdicts:
        return Evaluation(0.0, 0, {})
    overall = summarize([SampleResult(p.task_id, 0, r) for p, r in zip(problems, verdicts)], {}, [1])["groups"]["all"]
    return Evaluation(overall["pass@1"], len(problems),
                      {outcome: count for outcome, count in sorted(overall["outcomes"].items()) if count})
