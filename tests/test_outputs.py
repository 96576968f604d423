"""Output paths checked before work and written whole: ``rltf.outputs`` and ``rltf.run_folder``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rltf import run_folder
from rltf.errors import RltfError
from rltf.outputs import check_outputs, same_file, write_folder, write_text


def test_same_file_sees_through_dots_symlinks_and_hard_links(tmp_path):
    original = tmp_path / "a.jsonl"
    original.write_text("x")
    (tmp_path / "link").symlink_to(original)
    os.link(original, tmp_path / "hard")
    assert same_file(tmp_path / "sub" / ".." / "a.jsonl", original)
    assert same_file(tmp_path / "link", original)
    assert same_file(tmp_path / "hard", original)
    assert not same_file(tmp_path / "b.jsonl", original)


def test_check_outputs_names_the_options_in_conflict(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("x")
    with pytest.raises(RltfError, match="--out .* is the --completions file"):
        check_outputs({"--out": source}, {"--completions": source})
    with pytest.raises(RltfError, match="--b and --a are the same file"):
        check_outputs({"--a": tmp_path / "o.json", "--b": tmp_path / "o.json"})
    check_outputs({"--a": tmp_path / "new" / "deeper" / "o.json", "--b": None}, {"--in": None})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # checking creates nothing


def test_write_text_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "out.json"
    write_text(target, "first\n")
    write_text(target, "second\n")
    assert target.read_text() == "second\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_write_text_failure_is_one_line_and_keeps_nothing_half_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RltfError, match=r"^cannot write .*file/out.json: "):
        write_text(blocker / "out.json", "data")
    assert blocker.read_text() == "x"


def test_write_folder_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights").write_text("old")

    def fail_half_way(partial: Path) -> None:
        (partial / "weights").write_text("new, half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_folder(folder, fail_half_way)
    assert (folder / "weights").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    write_folder(folder, lambda partial: (partial / "weights").write_text("new"))
    assert (folder / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_run_folder_is_claimed_once(tmp_path):
    folder = tmp_path / "run"
    run_folder.check_new(folder)
    run_folder.claim(folder, "[run]\n")
    assert (folder / "config.toml").read_text() == "[run]\n"
    assert (folder / "metrics.jsonl").read_text() == ""
    with pytest.raises(RltfError, match="already holds a run; .*to continue it: --resume"):
        run_folder.check_new(folder)
    with pytest.raises(RltfError, match="already holds a run"):
        run_folder.claim(folder, "[other]\n")
    assert (folder / "config.toml").read_text() == "[run]\n"


def test_an_empty_folder_may_be_claimed_but_not_a_file(tmp_path):
    run_folder.claim(tmp_path, "[run]\n")
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(RltfError, match="is a file, not a folder"):
        run_folder.check_new(blocker)


def test_only_an_unfinished_run_resumes(tmp_path):
    with pytest.raises(RltfError, match="no config.toml here"):
        run_folder.check_resumable(tmp_path)
    run_folder.claim(tmp_path / "run", "[run]\n")
    run_folder.check_resumable(tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text("{}")
    with pytest.raises(RltfError, match="this run finished"):
        run_folder.check_resumable(tmp_path / "run")


def test_a_full_disk_while_logging_metrics_is_one_line_with_the_way_back(tmp_path):
    from rltf.metrics import MetricsLog

    log = MetricsLog(Path("/dev/full"))
    with pytest.raises(RltfError, match=r"cannot write /dev/full \(No space left on device\); --resume /dev"):
        log.write({"phase": "rl", "step": 1})


def test_a_checkpoint_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    """A full disk, injected where torch would hit it: the newest complete checkpoint survives."""
    import errno

    import torch

    from rltf.checkpoint import checkpoints, load_checkpoint, save_checkpoint

    folder = tmp_path / "run" / "checkpoints"
    save_checkpoint(folder, "step-0000001-rl", {"step": 1}, keep=2)

    def disk_full(state, path):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(RltfError, match="No space left on device.*--resume .*run continues"):
        save_checkpoint(folder, "step-0000002-rl", {"step": 2}, keep=2)
    assert [p.name for p in checkpoints(folder)] == ["step-0000001-rl"]
    assert load_checkpoint(checkpoints(folder)[-1]) == {"step": 1}
    assert sorted(p.name for p in folder.iterdir()) == ["step-0000001-rl"]


@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_kept(tmp_path, kind):
    """Writing whole renames a new file over the path: a pipe or a device would be replaced."""
    path = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/null")
    else:
        path.symlink_to("/dev/null")
    with pytest.raises(RltfError, match=r"^--out .* is not a regular file \(a device, pipe or socket\)"):
        check_outputs({"--out": path})
    assert path.exists() and not path.is_file()


def test_writing_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real" / "results.jsonl"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    check_outputs({"--out": link})
    write_text(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.jsonl"]


@pytest.mark.parametrize("path", ["/proc/version", "/proc/rltf-out/results.json", "/sys/rltf.json"])
def test_a_place_no_file_can_be_created_is_refused_before_work_even_for_root(path):
    with pytest.raises(RltfError, match=f"^--out {path}: cannot write in "):
        check_outputs({"--out": Path(path)})


def test_a_report_folder_where_nothing_can_be_created_is_refused():
    from rltf.outputs import check_folder_writable

    with pytest.raises(RltfError, match="^--out /proc/plots: cannot write in /proc "):
        check_folder_writable(Path("/proc/plots"), "--out")


def test_the_writability_check_leaves_nothing_behind(tmp_path):
    check_outputs({"--out": tmp_path / "a.json"})
    from rltf.outputs import check_folder_writable

    check_folder_writable(tmp_path / "plots", "--out")
    assert list(tmp_path.iterdir()) == []


def test_a_dangling_symlink_as_the_run_folder_is_named_as_such(tmp_path):
    folder = tmp_path / "run"
    folder.symlink_to(tmp_path / "nowhere" / "deep")
    with pytest.raises(RltfError, match=r"is a symbolic link to a missing folder \(.*nowhere/deep\)"):
        run_folder.check_new(folder)
    assert folder.is_symlink() and not (tmp_path / "nowhere").exists()
