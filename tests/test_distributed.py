"""Data-parallel training on CPU ranks (gloo), launched as users launch it: torchrun.

The claims tested: a 2-rank run draws the samples a 1-rank run draws, learns the same
losses (up to float addition order) and ends at the same held-out pass@1; a rank killed
with SIGKILL stops the run in bounded time with the dead rank named, and ``--resume`` then
finishes with the metrics of an uninterrupted 2-rank run; a rank whose peer dies outside
torchrun stops at its next collective with one line.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rltf.config import to_toml
from rltf.distributed.world import World
from rltf.metrics import read_metrics
from rltf.token_rewards import Rollout
from rltf.trainer import Judged, train
from tests.test_trainer import tiny_config

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
SAMPLES = ("pass_rate", "zero_advantage", "buffer_size")
LOSSES = ("loss/sl", "grad_norm")


@pytest.fixture(scope="module")
def start(tmp_path_factory) -> Path:
    """A briefly supervised tiny model: RL from it samples programs that pass, fail and crash."""
    out = tmp_path_factory.mktemp("sft") / "run"
    train(tiny_config(out, sft={"steps": 30}, run={"max_steps": 0}), quiet=True)
    return out / "model"


def config_file(folder: Path, start: Path, out: Path, strategy: str = "ddp", lora: bool = False, **run) -> Path:
    config = tiny_config(out, model={"name": str(start), "lora_r": 4 if lora else 0}, sft={"steps": 0},
                         actor={"problems_per_step": 4, "samples_per_problem": 2},
                         run={"max_steps": 4, "save_every": 2, "threads": 1, **run},
                         distributed={"strategy": strategy})
    path = folder / f"{out.name}.toml"
    path.write_text(to_toml(config))
    return path


def launch(ranks: int, *args: str, **popen) -> subprocess.Popen:
    command = [*TORCHRUN, str(ranks), "-m", "rltf"] if ranks > 1 else [sys.executable, "-m", "rltf"]
    return subprocess.Popen([*command, *args, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)


def finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def rl_rows(run: Path) -> list[dict]:
    return [r for r in read_metrics(run / "metrics.jsonl") if r["phase"] == "rl"]


def deterministic(row: dict) -> dict:
    return {k: v for k, v in row.items() if k.startswith(("loss/", "reward/", "outcome/")) or k in SAMPLES + LOSSES}


@pytest.mark.parametrize("strategy,lora", [("ddp", False), ("fsdp", False), ("ddp", True), ("fsdp", True)])
def test_two_ranks_learn_what_one_rank_learns(start, tmp_path, strategy, lora):
    one, two = tmp_path / "one", tmp_path / "two"
    finished(launch(1, "train", "--config", str(config_file(tmp_path, start, one, lora=lora))))
    out = finished(launch(2, "train", "--config", str(config_file(tmp_path, start, two, strategy, lora))))
    assert out.count("after: held-out pass@1") == 1  # rank 0 alone reports
    single, double = rl_rows(one), rl_rows(two)
    assert [r["step"] for r in double] == [1, 2, 3, 4]
    assert all(r["collective_s"] >= 0 for r in double) and all("collective_s" not in r for r in single)
    first = deterministic(single[0])
    assert {k: v for k, v in deterministic(double[0]).items() if k in SAMPLES} == \
        {k: v for k, v in first.items() if k in SAMPLES}  # the same samples, judged alike
    for mine, theirs in zip(double, single):
        a, b = deterministic(mine), deterministic(theirs)
        assert a.keys() == b.keys()
        for key in a:
            assert math.isclose(a[key], b[key], rel_tol=1e-3, abs_tol=1e-5), (mine["step"], key, a[key], b[key])
    after = [json.loads((run / "summary.json").read_text())["after"] for run in (one, two)]
    assert after[0] == after[1]
    assert not (two / "shards").exists() and {p.name for p in two.iterdir()} == {p.name for p in one.iterdir()}


def _rank_pid(launcher: int, rank: int) -> int | None:
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(child)
    return None


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_kill_9_of_a_rank_stops_the_run_and_resume_finishes_it(start, tmp_path, strategy):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    steps = 8
    proc = launch(2, "train", "--config", str(config_file(tmp_path, start, killed, strategy, max_steps=steps,
                                                          save_every=1)), start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed / "metrics.jsonl").exists() and len(rl_rows(killed)) >= 3:
            break
        time.sleep(0.05)
    victim = _rank_pid(proc.pid, 1)
    assert proc.poll() is None and victim is not None, proc.stdout.read()
    os.kill(victim, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)  # bounded: torchrun stops rank 0 once rank 1 is gone
    assert proc.returncode != 0
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", out) and "-9" in out, out
    assert len(rl_rows(killed)) < steps

    finished(launch(2, "train", "--resume", str(killed)))
    finished(launch(2, "train", "--config", str(config_file(tmp_path, start, whole, strategy, max_steps=steps,
                                                            save_every=1))))
    got, expected = rl_rows(killed), rl_rows(whole)
    assert [r["step"] for r in got] == list(range(1, steps + 1))
    assert [deterministic(r) for r in got] == [deterministic(r) for r in expected]
    assert json.loads((killed / "summary.json").read_text())["after"] == \
        json.loads((whole / "summary.json").read_text())["after"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_rank_whose_peer_dies_stops_with_one_line(start, tmp_path):
    """Without torchrun to stop it (srun, a hand-made launcher), the survivor's next collective fails."""
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2",
           "LOCAL_WORLD_SIZE": "2"}
    path = config_file(tmp_path, start, tmp_path / "run", max_steps=200, save_every=0)
    ranks = [subprocess.Popen([sys.executable, "-m", "rltf", "train", "--config", str(path), "--quiet"],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and ranks[0].poll() is None:
        if (tmp_path / "run" / "metrics.jsonl").exists() and rl_rows(tmp_path / "run"):
            break
        time.sleep(0.05)
    ranks[1].kill()
    ranks[1].wait()
    out, _ = ranks[0].communicate(timeout=120)
    assert ranks[0].returncode == 2, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == [out.strip().splitlines()[-1]] and "Traceback" not in out, out
    assert re.fullmatch(r"error: rank 0 of 2: another rank stopped while \w[\w ]+ \(.*\); the run resumes from its "
                        r"newest checkpoint with --resume", errors[0]), errors


def _rollout(problem: str, greedy: bool = False) -> Rollout:
    return Rollout(problem, [1], "x", [2], True, False, greedy, 0)


def test_judged_parts_join_in_the_order_one_process_makes():
    parts = [Judged([_rollout("a"), _rollout("a"), _rollout("a", True)], [1, 2, 3], [[], [], []], 1.0),
             Judged([_rollout("b"), _rollout("b", True)], [4, 5], [[], []], 2.0)]
    joined = Judged.joined(parts)
    assert [(r.problem_id, r.greedy) for r in joined.rollouts] == \
        [("a", False), ("a", False), ("b", False), ("a", True), ("b", True)]
    assert joined.results == [1, 2, 4, 3, 5] and joined.seconds == 2.0


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_shares_put_back_together_are_the_list(size):
    items = list(range(11))
    shares = [World(rank=r, size=size).share(items) for r in range(size)]
    assert [x for share in shares for x in share] == items
    dealt = [World(rank=r, size=size).deal(items, lambda x: -x) for r in range(size)]
    assert sorted(x for part in dealt for x in part) == items
    assert max(map(len, dealt)) - min(map(len, dealt)) <= 1


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_resume_on_another_number_of_ranks_continues_the_same_samples(start, tmp_path, strategy):
    """A 2-rank run cut back to its step-2 checkpoint (as if killed), resumed by one process."""
    import shutil

    run = tmp_path / "run"
    finished(launch(2, "train", "--config", str(config_file(tmp_path, start, run, strategy))))
    whole = rl_rows(run)
    checkpoints = sorted((run / "checkpoints").iterdir())
    assert [c.name for c in checkpoints] == ["step-0000002-rl", "step-0000004-rl"]
    for path in (checkpoints[-1], run / "model", run / "summary.json"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out = finished(launch(1, "train", "--resume", str(run)))
    assert "checkpointed on 2 ranks and resumes on 1" in " ".join(out.split()), out
    resumed = rl_rows(run)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert resumed[:2] == whole[:2]
    for mine, theirs in zip(resumed[2:], whole[2:]):
        a, b = deterministic(mine), deterministic(theirs)
        assert {k: a[k] for k in SAMPLES} == {k: b[k] for k in SAMPLES}
        assert all(math.isclose(a[k], b[k], rel_tol=1e-3, abs_tol=1e-5) for k in a), (a, b)
