"""TRL's GRPOTrainer as the ablation's row 9: the trainer most users would pick instead of rltf.

The same starting model (the seed's SFT checkpoint), the same problems (the built-in suite's
training and tests-only problems), the same 16 problems x 4 samples per step, 40 new tokens,
temperature 1.0, learning rate, warm-up, weight decay and gradient clipping as rltf's RL stage,
and the same number of steps; the reward is rltf's judge, 1 for a pass and 0 otherwise. Two of
TRL's defaults are set to rltf's: dropout off (TRL would sample and train with the embedded
model's 0.1 dropout) and no gradient checkpointing (TRL's default recomputes every activation).

GPT-2 and left padding: TRL left-pads prompts, and its loss calls GPT-2's base model with an
attention mask but no position ids; GPT-2 in transformers 5 then numbers positions from the
padded start, so a short prompt's tokens get other positions in the loss than in generation
(where ``generate`` passes positions counted from each row's first real token, as rltf does).
``count_positions_from_first_token`` wraps the base model's forward to pass those positions
whenever none are given; grpo.json counts the calls it fixed.

    .venv/bin/python benchmarks/grpo_baseline.py --model SFT_RUN/model --out DIR [--steps 300] [--seed 0] [--lr 3e-4]

Writes DIR/model (Hugging Face format) and DIR/grpo.json (wall time, seconds per 1,000 completions).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from rltf.config import ActorSettings, DataSettings, LearnerSettings, ModelSettings
from rltf.judge import Judge, JudgeConfig, Submission
from rltf.training_data import training_problems

PROBLEMS_PER_STEP = 16


def count_positions_from_first_token(model: Any) -> dict[str, int]:
    """Wraps the base model (GPT-2's ``transformer``), not only the LM head's forward: TRL's loss
    calls the base model directly (its fused log-prob path), so a wrapper on ``model.forward``
    fixed generation (where transformers passes positions anyway) and missed every loss pass.
    Returns counts of the base model's calls and of those given positions, filled in as TRL runs."""
    base = model.base_model
    forward = base.forward
    calls = {"forward_calls": 0, "positions_added": 0}

    def with_positions(*args: Any, **kwargs: Any) -> Any:
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        width = ids.shape[1] if ids is not None else kwargs["inputs_embeds"].shape[1]
        calls["forward_calls"] += 1
        if kwargs.get("position_ids") is None and mask is not None:
            positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
            kwargs["position_ids"] = positions[:, -width:]
            calls["positions_added"] += 1
        return forward(*args, **kwargs)

    base.forward = with_positions
    return calls


def main() -> None:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=LearnerSettings().lr, help="default: rltf's RL learning rate")
    parser.add_argument("--quick", action="store_true", help="2 problems per step of 30 (the smoke test's sizes)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    actor, learner, model_settings = ActorSettings(), LearnerSettings(), ModelSettings()
    problems = training_problems(DataSettings(builtin_rl_only=10, builtin_train=20) if args.quick else DataSettings()).rl
    by_id = {p.task_id: p for p in problems}
    per_step = (2 if args.quick else PROBLEMS_PER_STEP) * actor.samples_per_problem
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model)
    calls = count_positions_from_first_token(model)
    dataset = Dataset.from_list([{"prompt": p.prompt, "task_id": p.task_id} for p in problems])
    judged = {"programs": 0, "judge_s": 0.0}

    with Judge(JudgeConfig(timeout_s=10.0)) as judge:
        def passed(prompts: list[str], completions: list[str], task_id: list[str], **_: Any) -> list[float]:
            began = time.perf_counter()
            results = judge.run([Submission(by_id[t], by_id[t].program(c)) for t, c in zip(task_id, completions)])
            judged["programs"] += len(results)
            judged["judge_s"] += time.perf_counter() - began
            return [1.0 if r.outcome == "pass" else 0.0 for r in results]

        config = GRPOConfig(
            output_dir=str(args.out / "trl"), max_steps=args.steps, per_device_train_batch_size=per_step,
            num_generations=actor.samples_per_problem, max_completion_length=actor.max_new_tokens,
            temperature=actor.temperature, top_p=actor.top_p, learning_rate=args.lr,
            weight_decay=learner.weight_decay, warmup_steps=learner.warmup_steps, lr_scheduler_type="constant_with_warmup",
            max_grad_norm=learner.grad_clip, beta=0.0, seed=args.seed, use_cpu=True, report_to=[],
            disable_dropout=not learner.rl_dropout, gradient_checkpointing=model_settings.gradient_checkpointing,
            save_strategy="no", logging_steps=max(1, args.steps // 10), disable_tqdm=True)
        trainer = GRPOTrainer(model=model, reward_funcs=passed, args=config, train_dataset=dataset,
                              processing_class=tokenizer)
        began = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - began
    del model.base_model.forward  # the class's own forward again, before saving
    model.save_pretrained(args.out / "model")
    tokenizer.save_pretrained(args.out / "model")
    (args.out / "grpo.json").write_text(json.dumps({
        "steps": args.steps, "lr": args.lr, "completions": judged["programs"], "train_s": wall, "judge_s": judged["judge_s"],
        "s_per_1000": 1000 * wall / max(1, judged["programs"]), **calls}, indent=2) + "\n")


if __name__ == "__main__":
    main()
