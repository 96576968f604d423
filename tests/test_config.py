"""The run config: reading TOML and overrides into one typed, checked object, and writing it back.

A run is reproducible from ``config.toml`` in its folder and ``--resume`` reads that file
back, so ``to_toml`` must round-trip every value exactly. A misspelt or ill-typed setting
must stop the run before any model loads, with a message naming the file and the field.
"""

import tomllib

import pytest

from rltf.config import (
    TrainConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_assignment,
    to_toml,
)
from rltf.errors import DataError, RltfError


def write(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def rich_config():
    """A config with every kind of value to_toml must write: nested tables, quoted keys, escapes."""
    return config_from_dict({
        "model": {"prompt_template": '# {prompt}\n"""\n\t{starter_code}\\n', "lora_target_modules": ["q", "v"]},
        "actor": {"temperature": 0.6, "top_p": 0.95, "stop": ["\n\n", 'say "hi"', "back\\slash"]},
        "learner": {"lr": 2e-6, "baseline": "greedy",
                    "term_weights": {"unittest/coarse": 1.0, "unittest/fine": 0.5, "pylint/score": 2}},
        "feedback": {"providers": ["unittest", "pylint"], "options": {
            "unittest": {"rescale": False, "penalty": -0.3},
            "pylint": {"disable": ["C0114"], "weights": {"error": -1.0, "a.b": 2}},
            "my.plugin": {},
        }},
        "judge": {"timeout_s": 1.5},
        "run": {"out": "runs/α β", "mode": "offline"},
    })


def test_empty_table_gives_defaults():
    assert config_from_dict({}) == TrainConfig()


def test_load_config_reads_sections_and_widens_ints_to_floats(tmp_path):
    path = write(tmp_path, """
[actor]
temperature = 1
stop = ["\\n\\n"]
[learner]
baseline = "greedy"
term_weights = { "unittest/coarse" = 2 }
[feedback.options.unittest]
rescale = false
""")
    config = load_config(path)
    assert config.actor.temperature == 1.0 and isinstance(config.actor.temperature, float)
    assert config.actor.stop == ["\n\n"]
    assert config.learner.baseline == "greedy"
    assert config.learner.term_weights == {"unittest/coarse": 2.0}
    assert config.feedback.options == {"unittest": {"rescale": False}}
    assert config.actor.top_p == TrainConfig().actor.top_p


def test_to_toml_round_trips_every_value():
    config = rich_config()
    text = to_toml(config)
    assert config_from_dict(tomllib.loads(text)) == config
    assert '"unittest/coarse" = 1.0' in text
    assert "[feedback.options.unittest]" in text


def test_to_toml_round_trips_defaults():
    assert config_from_dict(tomllib.loads(to_toml(TrainConfig()))) == TrainConfig()


def test_to_toml_round_trips_control_characters():
    config = config_from_dict({"actor": {"stop": ["\r\n\r\n", "form\x0cfeed"]}})
    assert config_from_dict(tomllib.loads(to_toml(config))) == config


def test_unknown_key_names_file_and_dotted_field(tmp_path):
    path = write(tmp_path, "[actor]\ntemperture = 0.6\n")
    with pytest.raises(DataError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "actor.temperture" in message
    assert "temperature" in message.split("actor.temperture", 1)[1]  # the valid names help fix the typo
    assert caught.value.field == "actor.temperture"


def test_unknown_section_is_named():
    with pytest.raises(DataError) as caught:
        config_from_dict({"actr": {}}, "my.toml")
    assert caught.value.field == "actr" and caught.value.path == "my.toml"


def test_section_that_is_not_a_table_is_rejected():
    with pytest.raises(DataError) as caught:
        config_from_dict({"actor": 3})
    assert caught.value.field == "actor"


def test_provider_options_accept_any_keys():
    options = {"anything": {"deep": {"er": [1, "two"]}}}
    assert config_from_dict({"feedback": {"options": options}}).feedback.options == options


@pytest.mark.parametrize(("data", "field"), [
    ({"actor": {"max_new_tokens": "40"}}, "actor.max_new_tokens"),
    ({"actor": {"max_new_tokens": True}}, "actor.max_new_tokens"),
    ({"actor": {"max_new_tokens": 40.0}}, "actor.max_new_tokens"),
    ({"actor": {"temperature": True}}, "actor.temperature"),
    ({"actor": {"temperature": "0.6"}}, "actor.temperature"),
    ({"actor": {"temperature": float("nan")}}, "actor.temperature"),
    ({"actor": {"greedy_baseline": 1}}, "actor.greedy_baseline"),
    ({"model": {"name": 3}}, "model.name"),
    ({"actor": {"stop": "\n"}}, "actor.stop"),
    ({"actor": {"stop": ["ok", 3]}}, "actor.stop[1]"),
    ({"learner": {"term_weights": {"unittest/coarse": "high"}}}, "learner.term_weights.unittest/coarse"),
    ({"feedback": {"options": {"unittest": 1}}}, "feedback.options.unittest"),
])
def test_wrong_type_names_the_field(data, field):
    with pytest.raises(DataError) as caught:
        config_from_dict(data, "cfg.toml")
    assert caught.value.field == field
    assert f"cfg.toml, field {field!r}" in str(caught.value)


@pytest.mark.parametrize(("data", "field"), [
    ({"learner": {"baseline": "median"}}, "learner.baseline"),
    ({"learner": {"balance": "auto"}}, "learner.balance"),
    ({"run": {"mode": "Online"}}, "run.mode"),
    ({"model": {"architecture": "encoder"}}, "model.architecture"),
])
def test_literal_settings_accept_only_their_choices(data, field):
    with pytest.raises(DataError, match="must be one of") as caught:
        config_from_dict(data)
    assert caught.value.field == field


@pytest.mark.parametrize(("data", "field"), [
    ({"buffer": {"capacity": 0}}, "buffer.capacity"),
    ({"learner": {"lr": 0.0}}, "learner.lr"),
    ({"judge": {"timeout_s": -1}}, "judge.timeout_s"),
    ({"run": {"max_steps": -1}}, "run.max_steps"),
    ({"model": {"lora_r": -4}}, "model.lora_r"),
    ({"actor": {"top_p": 0.0}}, "actor.top_p"),
    ({"actor": {"top_p": 1.5}}, "actor.top_p"),
    ({"embedded": {"width": 30, "heads": 4}}, "embedded.width"),
    ({"data": {"eval_size": -1}}, "data.eval_size"),
    ({"data": {"eval_size": 0}}, "data.eval_size"),
    ({"data": {"builtin_train": 0}}, "data.builtin_train"),
    ({"data": {"builtin_rl_only": -1}}, "data.builtin_rl_only"),
    ({"learner": {"grad_clip": -1.0}}, "learner.grad_clip"),
    ({"learner": {"grad_clip": 0.0}}, "learner.grad_clip"),
    ({"embedded": {"vocab_size": 0}}, "embedded.vocab_size"),
    ({"embedded": {"vocab_size": -5}}, "embedded.vocab_size"),
    ({"model": {"lora_r": 2, "lora_dropout": 5.0}}, "model.lora_dropout"),
    ({"model": {"lora_dropout": -0.1}}, "model.lora_dropout"),
    ({"model": {"lora_dropout": 1.0}}, "model.lora_dropout"),
    ({"run": {"threads": 4097}}, "run.threads"),
    ({"run": {"threads": 99999999999999999999}}, "run.threads"),
    ({"actor": {"max_new_tokens": 2**63}}, "actor.max_new_tokens"),
    ({"learner": {"lr": 10**400}}, "learner.lr"),
    ({"feedback": {"providers": ["unittest", "pylint", "unittest"]}}, "feedback.providers"),
    ({"judge": {"packages": ["numpy", "sys"]}}, "judge.packages"),
    ({"judge": {"packages": ["os"]}}, "judge.packages"),
])
def test_values_that_cannot_work_are_rejected(data, field):
    with pytest.raises(DataError) as caught:
        config_from_dict(data)
    assert caught.value.field == field


@pytest.mark.parametrize("temperature", [0.0, -0.6])
def test_non_positive_temperature_is_rejected(temperature):
    with pytest.raises(DataError) as caught:
        config_from_dict({"actor": {"temperature": temperature}})
    assert caught.value.field == "actor.temperature"


def test_builtin_train_matters_only_for_the_builtin_suite():
    config = config_from_dict({"data": {"dataset": "humaneval", "builtin_train": 0}})
    assert config.data.builtin_train == 0


def test_zero_is_allowed_where_it_means_off():
    config = config_from_dict({"run": {"max_steps": 0, "eval_every": 0}, "sft": {"steps": 0}})
    assert (config.run.max_steps, config.sft.steps) == (0, 0)


def test_prompt_template_must_contain_prompt(tmp_path):
    with pytest.raises(DataError, match=r"\{prompt\}") as caught:
        load_config(write(tmp_path, '[model]\nprompt_template = "Solve: {problem}"\n'))
    assert caught.value.field == "model.prompt_template"


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[actor\n")
    with pytest.raises(DataError, match="not valid TOML") as caught:
        load_config(path)
    assert caught.value.path == str(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_overrides_apply_on_top_and_leave_the_original_alone():
    base = rich_config()
    config = apply_overrides(base, {
        "actor.temperature": 1,
        "learner.term_weights.unittest/adaptive": 0.25,
        "feedback.options.unittest.rescale": True,
        "feedback.options.hypothesis.max_examples": 20,
    })
    assert config.actor.temperature == 1.0 and isinstance(config.actor.temperature, float)
    assert config.learner.term_weights == {**base.learner.term_weights, "unittest/adaptive": 0.25}
    assert config.feedback.options["unittest"] == {"rescale": True, "penalty": -0.3}
    assert config.feedback.options["hypothesis"] == {"max_examples": 20}
    assert base.actor.temperature == 0.6 and base.feedback.options["unittest"]["rescale"] is False


@pytest.mark.parametrize("dotted", ["actr.temperature", "actor.temperture", "actor", "actor."])
def test_override_of_an_unknown_setting_is_named(dotted):
    with pytest.raises(DataError, match="no setting is named") as caught:
        apply_overrides(TrainConfig(), {dotted: 1}, "--set")
    assert caught.value.field == dotted and caught.value.path == "--set"


def test_overrides_are_checked_like_a_file():
    with pytest.raises(DataError) as caught:
        apply_overrides(TrainConfig(), {"actor.max_new_tokens": "many"}, "--set")
    assert caught.value.field == "actor.max_new_tokens" and caught.value.path == "--set"


def test_override_below_a_scalar_is_a_data_error():
    with pytest.raises(DataError):
        apply_overrides(TrainConfig(), {"actor.temperature.x": 1})


@pytest.mark.parametrize(("text", "expected"), [
    ("actor.temperature=0.6", ("actor.temperature", 0.6)),
    (" actor.max_new_tokens = 64 ", ("actor.max_new_tokens", 64)),
    ("run.tensorboard=true", ("run.tensorboard", True)),
    ('actor.stop=["\\n\\n", "#"]', ("actor.stop", ["\n\n", "#"])),
    ("model.name=Salesforce/codet5-large", ("model.name", "Salesforce/codet5-large")),
    ('model.prompt_template="a=b {prompt}"', ("model.prompt_template", "a=b {prompt}")),
    ("model.prompt_template=x = {prompt}", ("model.prompt_template", "x = {prompt}")),
    ("learner.term_weights={ \"unittest/fine\" = 0.5 }", ("learner.term_weights", {"unittest/fine": 0.5})),
])
def test_parse_assignment_reads_toml_values_else_strings(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["actor.temperature", "=0.6", " = 1"])
def test_parse_assignment_needs_key_and_value(text):
    with pytest.raises(RltfError, match="section.key=value"):
        parse_assignment(text)


def test_assignment_feeds_overrides():
    config = apply_overrides(TrainConfig(), dict([parse_assignment("learner.baseline=greedy"),
                                                  parse_assignment("buffer.capacity=128")]))
    assert (config.learner.baseline, config.buffer.capacity) == ("greedy", 128)


@pytest.mark.parametrize("template, message", [
    ("{prompt} {nosuch}", "unknown placeholder {nosuch}"),
    ("{tests}", "must contain {prompt}"),
    ("{prompt", "not a valid template"),
])
def test_prompt_template_placeholders_are_checked(template, message):
    with pytest.raises(DataError, match=message) as error:
        config_from_dict({"model": {"prompt_template": template}}, "run.toml")
    assert error.value.field == "model.prompt_template"


def test_an_integer_too_long_to_read_names_the_file_and_row(tmp_path):
    path = write(tmp_path, "[run]\nout = 'x'\nseed = " + "1" * 5000 + "\n")
    with pytest.raises(DataError, match="an integer of more than 4300 digits") as caught:
        load_config(path)
    assert (caught.value.path, caught.value.row) == (str(path), 3)


def test_nesting_too_deep_to_read_names_the_file(tmp_path):
    path = write(tmp_path, "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match="nested too deeply") as caught:
        load_config(path)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(("value", "message"), [
    ("1" * 5000, "an integer of more than 4300 digits"),
    ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
])
def test_an_assignment_too_big_to_read_names_the_setting(value, message):
    with pytest.raises(DataError, match=message) as caught:
        parse_assignment(f"run.seed={value}")
    assert (caught.value.path, caught.value.field) == ("--set", "run.seed")


@pytest.mark.parametrize("actor", [{"sync_every": 2}, {"concurrent": True}])
def test_fsdp_refuses_an_actor_with_its_own_copy(actor):
    """A sharded model cannot be deep-copied into an actor that generates on its own."""
    with pytest.raises(DataError) as caught:
        config_from_dict({"distributed": {"strategy": "fsdp"}, "actor": actor}, "run.toml")
    assert caught.value.field == "distributed.strategy" and "sync_every = 1" in str(caught.value)
    config_from_dict({"distributed": {"strategy": "ddp"}, "actor": actor})


def test_distributed_settings_are_checked():
    with pytest.raises(DataError) as caught:
        config_from_dict({"distributed": {"timeout_s": 0}})
    assert caught.value.field == "distributed.timeout_s"
    with pytest.raises(DataError, match="must be one of"):
        config_from_dict({"distributed": {"strategy": "zero3"}})
