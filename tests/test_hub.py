"""Loading from the Hugging Face hub without network: a one-line error with the ways out,
in seconds rather than after the libraries' retries, and the cached copy when there is one.

huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_CACHE when it is imported, so the checks
that depend on them run rltf in a subprocess with its own environment. The in-process
checks set HF_ENDPOINT, which rltf reads at each probe, to addresses that refuse or never
answer, so no test needs the real hub or depends on whether this machine can reach it.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest

from rltf import hub
from rltf.errors import RltfError

REFUSED = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused at once
NOT_CACHED = "rltf-test/not-in-any-cache"
RLTF = Path(sys.executable).with_name("rltf")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def online_mode(monkeypatch, tmp_path):
    """Offline mode off, an empty cache, no proxy and a fresh probe, whatever the environment running the tests."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    hub.probe.cache_clear()
    yield
    hub.probe.cache_clear()


@pytest.fixture
def listener():
    """A local TCP server that accepts connections but never answers them."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        yield server


@pytest.fixture
def silent_server():
    """A local address where connecting hangs, as behind a firewall that drops packets: the
    kernel drops new connections to a server whose accept queue is full. (A non-routable
    address would do on most networks, but some sandboxes answer every connection.)"""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        address = server.getsockname()
        with socket.create_connection(address):
            with pytest.raises(TimeoutError):  # the premise: one more connection hangs
                socket.create_connection(address, timeout=0.5).close()
            yield address


def subprocess_env(tmp_path, **overrides):
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in PROXY_VARS and key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=REFUSED, HF_HUB_CACHE=str(tmp_path / "hub-cache"), HF_HOME=str(tmp_path / "hf-home"))
    env.update(overrides)
    return env


def test_an_existing_folder_is_local(tmp_path):
    source = hub.model_source(str(tmp_path))
    assert source.local and not source.local_files_only and source.location == str(tmp_path)


def test_a_folder_under_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert hub.model_source("~/models/mine").location == str(tmp_path / "models" / "mine")


@pytest.mark.parametrize("name", ["./nosuchpath", "/no/such/model", "~/no-such-model", "a\\b", "a/b/c", "org/name/"])
def test_a_path_that_does_not_exist_is_no_such_folder(name, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", REFUSED)
    with pytest.raises(RltfError, match="no such folder"):
        hub.model_source(name)


def test_a_file_is_not_a_model_folder(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(RltfError, match="not a folder"):
        hub.model_source(str(weights))


def test_a_name_that_is_neither_folder_nor_hub_id():
    with pytest.raises(RltfError, match="no such folder, nor a Hugging Face model id"):
        hub.model_source("two words")


def test_a_hub_id_is_probed(listener, monkeypatch):
    host, port = listener.getsockname()
    monkeypatch.setenv("HF_ENDPOINT", f"http://{host}:{port}")
    source = hub.model_source("org/name")
    assert not source.local and not source.local_files_only and source.location == "org/name"
    assert listener.accept()


def test_an_unreachable_hub_and_no_cached_copy_is_one_line_with_the_ways_out(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", REFUSED)
    with pytest.raises(RltfError) as raised:
        hub.model_source(NOT_CACHED)
    message = str(raised.value)
    assert "\n" not in message
    assert f"cannot load model {NOT_CACHED!r}" in message and "cannot connect to 127.0.0.1:9" in message
    assert "HF_HUB_OFFLINE=1" in message and "--model a local folder" in message


def test_an_unreachable_hub_and_a_cached_copy_use_the_cache(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_ENDPOINT", REFUSED)
    in_cache(tmp_path / "hub-cache", "org/name", {"config.json": "{}"})
    source = hub.model_source("org/name")
    assert source.local_files_only and not source.local
    assert "using the cached copy of org/name" in caplog.text


def test_a_hub_that_never_answers_is_unreachable(silent_server, monkeypatch):
    host, port = silent_server
    monkeypatch.setenv("HF_ENDPOINT", f"http://{host}:{port}")
    monkeypatch.setattr(hub, "PROBE_TIMEOUT_S", 0.2)
    with pytest.raises(RltfError, match=f"hub cannot be reached \\(.*{host}:{port}.*HF_HUB_OFFLINE=1"):
        hub.model_source(NOT_CACHED)


def test_a_proxy_is_probed_instead_of_the_hub(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert hub.hub_address() == ("127.0.0.1", 3128)
    monkeypatch.setenv("NO_PROXY", "hub.example")
    assert hub.hub_address() == ("hub.example", 443)


@pytest.mark.parametrize("value, offline", [("1", True), ("yes", True), ("True", True), ("on", True),
                                            ("0", False), ("", False)])
def test_offline_mode_is_read_as_huggingface_hub_reads_it(tmp_path, value, offline):
    done = subprocess.run([sys.executable, "-c", "from rltf import hub; print(hub.is_offline_mode())"],
                          env=subprocess_env(tmp_path, HF_HUB_OFFLINE=value), capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == [str(offline)], done.stderr


def test_an_unreachable_hub_fails_a_dataset_download_with_the_ways_out(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", REFUSED)
    with pytest.raises(RltfError) as raised:
        hub.check_dataset_hub("MBPP (full)", "mbpp/mbpp.jsonl")
    message = str(raised.value)
    assert message.startswith("could not load MBPP (full) from the Hugging Face hub: it cannot be reached")
    assert "--data-path" in message and "mbpp/mbpp.jsonl" in message and "HF_HUB_OFFLINE=1" in message


def test_apps_from_an_unreachable_hub_fails_with_the_ways_out(monkeypatch):
    from rltf.datasets import apps

    monkeypatch.setenv("HF_ENDPOINT", REFUSED)
    with pytest.raises(RltfError, match=r"APPS \(test\) .* cannot be reached .*--data-path.*HF_HUB_OFFLINE=1"):
        apps.load(split="test")


def test_apps_cached_when_the_hub_is_unreachable_is_read_from_the_cache(tmp_path, monkeypatch, caplog):
    from rltf.datasets import apps

    monkeypatch.setenv("HF_ENDPOINT", REFUSED)
    row = {"problem_id": 7, "question": "Double it.", "solutions": json.dumps(["print(2 * int(input()))"]),
           "input_output": json.dumps({"inputs": ["2\n"], "outputs": ["4\n"]}), "difficulty": "introductory"}
    in_cache(tmp_path / "hub-cache", "codeparrot/apps", {"test.jsonl": json.dumps(row) + "\n"}, "dataset")
    [problem] = apps.load(split="test").problems
    assert problem.task_id == "7" and problem.prompt == "Double it."
    assert "using the cached copy of codeparrot/apps" in caplog.text


def test_a_folder_without_weights_is_one_line_naming_it(tmp_path):
    import torch

    from rltf.config import ModelSettings
    from rltf.policy import load_policy

    model, tokenizer = tiny_model()
    model.config.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(RltfError, match=f"cannot load model '{tmp_path}': .*model.safetensors"):
        load_policy(ModelSettings(name=str(tmp_path)), torch.device("cpu"))


def test_train_with_a_missing_model_folder_says_so(tmp_path):
    done = subprocess.run([str(RLTF), "train", "--model", "./nosuchpath", "--out", str(tmp_path / "r")],
                          cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --model ./nosuchpath: no such folder"]


def test_offline_mode_reads_the_cache_without_connecting(tmp_path, listener):
    host, port = listener.getsockname()
    env = subprocess_env(tmp_path, HF_HUB_OFFLINE="1", HF_ENDPOINT=f"http://{host}:{port}")
    done = subprocess.run([str(RLTF), "train", "--model", NOT_CACHED, "--out", str(tmp_path / "r")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: cannot load model {NOT_CACHED!r}: ") and "HF_HUB_OFFLINE is set" in line
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):  # a connection, even one closed since, would be waiting here
        listener.accept()


LOAD_CACHED = """
import logging, sys, torch
logging.basicConfig(stream=sys.stderr)
from rltf.config import ModelSettings
from rltf.policy import load_policy
policy = load_policy(ModelSettings(name="org/name"), torch.device("cpu"))
print(type(policy.model).__name__, policy.model.config.n_embd)
"""


def test_a_cached_model_loads_when_the_hub_is_unreachable(tmp_path):
    model, tokenizer = tiny_model()
    snapshot = in_cache(tmp_path / "hub-cache", "org/name", {})
    model.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    done = subprocess.run([sys.executable, "-c", LOAD_CACHED], env=subprocess_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["GPT2LMHeadModel", "16"]
    assert "WARNING:rltf.hub:the Hugging Face hub cannot be reached (cannot connect to 127.0.0.1:9" in done.stderr
    assert "using the cached copy of org/name" in done.stderr


def in_cache(cache: Path, repo_id: str, files: dict[str, str], repo_type: str = "model") -> Path:
    """A snapshot folder in the hub cache's layout, as a download of ``main`` leaves it."""
    repo = cache / (f"{repo_type}s--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def tiny_model():
    from rltf.config import EmbeddedSettings
    from rltf.embedded import build_model, train_tokenizer

    tokenizer = train_tokenizer(["def add(a, b):\n    return a + b\n"] * 4, vocab_size=300)
    return build_model(tokenizer, EmbeddedSettings(layers=1, width=16, heads=2, context=64, vocab_size=300), 0), tokenizer
