"""Every default the docs name is the code's default, and every option and setting is documented.

docs/cli.md gave ``rltf train --max-steps`` a default of 150 and ``--sft-steps`` 1,500 long after
the code had moved to 300 and 300: numbers copied into prose drift silently. These tests read the
option tables of docs/cli.md and the settings tables of docs/training.md (section 3) and compare
each default cell with the code that supplies it, so the docs cannot fall behind again:

- a ``rltf`` command's options come from its Typer/click definition. Most ``train``/``sft``
  flags default to None and take their real default from the config setting their meaning cell
  names in parentheses, e.g. ``(`run.max_steps`)``; their cell is compared with that setting.
  Options the code gives no value (required, None, False) are documented with a word from
  ``DEFAULT_WORDS``, each of which is checked against the code too;
- a config setting's default comes from ``TrainConfig()`` and is written as TOML;
- the ``unittest`` provider's option defaults come from ``Settings.from_options({})``.

The tables must also list exactly the options and settings the code has, so a renamed or new
option cannot drift either.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from rltf.config import TrainConfig, _toml_value

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DOCS = Path(__file__).resolve().parents[1] / "docs"
CLI_MD = DOCS / "cli.md"
TRAINING_MD = DOCS / "training.md"


# Reading the markdown tables.

@dataclass(frozen=True)
class Table:
    """A markdown table, with the heading it sits under and its line, for failure messages."""

    doc: str
    heading: str
    line: int
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def where(self, name: str = "") -> str:
        place = f"{self.doc}, table under '{self.heading}' (line {self.line})"
        return f"{place}, {name}" if name else place


def split_row(line: str) -> tuple[str, ...]:
    """The cells of ``| a | b |``: a ``|`` inside backticks or escaped as ``\\|`` is text, not a border.

    The meaning cells quote code freely, so a naive ``line.split("|")`` would shift every
    later cell of a row the day someone writes ``a | b`` in backticks.
    """
    cells, cell, in_code, i = [], "", False, 0
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    while i < len(body):
        ch = body[i]
        if ch == "\\" and body[i + 1:i + 2] == "|":
            cell, i = cell + "|", i + 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
        i += 1
    if cell.strip():
        cells.append(cell.strip())
    return tuple(cells)


def read_tables(path: Path) -> list[Table]:
    """Every table of a markdown file outside code fences, with the nearest heading above it."""
    tables: list[Table] = []
    heading, in_fence, start, rows = "", False, 0, []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines + [""], start=1):
        is_row = line.startswith("|") and not in_fence
        if is_row and not rows:
            start = number
        if is_row:
            rows.append(split_row(line))
        elif rows:  # the table ended on the line before: header, |---| rule, body
            tables.append(Table(path.name, heading, start, rows[0], tuple(rows[2:])))
            rows = []
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif line.startswith("#") and not in_fence:
            heading = line.lstrip("#").strip()
    return tables


def code_names(cell: str) -> list[str]:
    """The backticked names of a first cell: ``--max-steps``, or ``coarse``, ``fine``, ``adaptive`` in one row."""
    return re.findall(r"`([^`]+)`", cell)


def literal(cell: str) -> str | None:
    """The text of a cell that is exactly one backticked literal (``300``, ``"auto"``), else None."""
    match = re.fullmatch(r"`([^`]*)`", cell.strip())
    return match.group(1) if match else None


def toml_text(value: Any) -> str:
    """A value as the code writes it to TOML (``rltf.config``): 2e-3 and 0.002 read alike, 1 and 1.0 do not."""
    if isinstance(value, Mapping):
        value = {key: item for key, item in value.items()}
    return _toml_value(value)


def report(problems: list[str]) -> None:
    """Fail with one line per problem, each naming the doc, the table and the option."""
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def parse_toml_value(text: str) -> Any:
    return tomllib.loads(f"v = {text}")["v"]


# docs/cli.md: one options table per command.

CLI_HEADER = ("option", "default", "meaning")
SETTINGS = TrainConfig().to_dict()


def tables_by_heading(path: Path, header: tuple[str, ...], heading: str, what: str) -> dict[str, Table]:
    """The tables of ``path`` with ``header``, keyed by the name the ``heading`` pattern captures."""
    tables = {}
    for table in read_tables(path):
        if table.header != header:
            continue
        match = re.fullmatch(heading, table.heading)
        assert match, f"{table.where()}: {what}"
        assert match.group(1) not in tables, f"{table.where()}: a second table for {match.group(1)}"
        tables[match.group(1)] = table
    return tables


def cli_tables() -> dict[str, Table]:
    """The options tables of docs/cli.md by command, from headings such as ``rltf train``."""
    return tables_by_heading(CLI_MD, CLI_HEADER, r"`rltf (\w+)`",
                             "an options table must sit under a '## `rltf COMMAND`' heading")


def click_commands() -> dict[str, Any]:
    """The click commands Typer builds from ``rltf.cli.app``: their params carry the real defaults."""
    import typer

    from rltf.cli import app

    return dict(typer.main.get_command(app).commands)


def param_name(param: Any) -> str:
    """``--max-steps`` for an option, the metavar (``DIR``) for an argument, as the tables spell them."""
    if param.param_type_name == "argument":
        return param.metavar or param.name.upper()
    return max(param.opts, key=len)


def named_setting(meaning: str) -> str | None:
    """The config setting an option sets, named in parentheses in its meaning cell: ``(`run.max_steps`)``."""
    match = re.search(r"\(`(\w+\.\w+)`", meaning)
    return match.group(1) if match else None


def setting_default(dotted: str) -> Any:
    section, key = dotted.split(".")
    return SETTINGS[section][key]


def cli_text(value: Any) -> str:
    """A default as typed on the command line: lists comma-separated (``--feedback unittest``)."""
    if isinstance(value, (list, tuple)):
        return ",".join(cli_text(item) for item in value)
    return str(getattr(value, "value", value))


# Words the cli tables use where the code has no value to show. Each gets the click param and
# the config setting named in the meaning cell (or None), and returns what is wrong, or "".

def _required(param: Any, setting: str | None) -> str:
    return "" if param.required else f"the option is not required (default {param.default!r})"


def _no_value(param: Any, setting: str | None) -> str:
    if param.required or param.default not in (None, ()):
        return f"the option has a default, {param.default!r}"
    if setting is not None and setting_default(setting) not in ("", [], {}):
        return f"the option sets {setting}, whose default is {toml_text(setting_default(setting))}"
    return ""


def _off(param: Any, setting: str | None) -> str:
    if param.default is not False:
        return f"the option's default is {param.default!r}, not False"
    if setting is not None and setting_default(setting) is not False:
        return f"{setting} defaults to {toml_text(setting_default(setting))}, not false"
    return ""


def _two_per_core(param: Any, setting: str | None) -> str:
    from rltf.judge.pool import JudgeConfig, default_workers

    if param.default is not None or JudgeConfig().workers is not None:
        return f"the option's default is {param.default!r} and the judge's {JudgeConfig().workers!r}, not None"
    if default_workers() != 2 * (os.cpu_count() or 1):
        return f"the judge's default_workers() is {default_workers()} on {os.cpu_count()} cores"
    return ""


def _embedded_model(param: Any, setting: str | None) -> str:
    if setting != "model.name":
        return f"'the embedded model' is the empty model.name, but the meaning cell names {setting}"
    return _no_value(param, setting)


def _date_time_folder(param: Any, setting: str | None) -> str:
    from rltf.train_cli import resolve_config

    out = resolve_config(None, {}, []).run.out
    if not re.fullmatch(r"runs[/\\]\d{8}-\d{6}", out):
        return f"with no --out, rltf train's run folder is {out!r}"
    return _no_value(param, setting)


def _only(option: str, check: Callable[[Any, str | None], str]) -> Callable[[Any, str | None], str]:
    """A word that describes one option's behaviour (``two per core``) is checked on that option only."""
    def checked(param: Any, setting: str | None) -> str:
        if param_name(param) != option:
            return f"this word describes {option} only"
        return check(param, setting)

    return checked


DEFAULT_WORDS: dict[str, Callable[[Any, str | None], str]] = {
    "required": _required,
    "none": _no_value,
    "off": _off,
    "two per core": _only("--workers", _two_per_core),  # JudgeConfig(workers=None) starts default_workers()
    "the embedded model": _embedded_model,  # an empty model.name builds the embedded model
    "the loader's standard source": _only("--data-path", _no_value),  # no path: the loader's own source
    "`runs/<date-time>`": _only("--out", _date_time_folder),
    "`DIR/plots`": _only("--out", _no_value),  # rltf.report.draw_report(run_dir, None) writes to run_dir/plots
}


def default_problem(param: Any, cell: str, meaning: str) -> str:
    """What is wrong with one option's default cell, or "" when it says what the code does."""
    setting = named_setting(meaning)
    if setting is not None:
        section, _, key = setting.partition(".")
        if key not in SETTINGS.get(section, {}):
            return f"the meaning cell names {setting}, which is not a config setting"
    if cell in DEFAULT_WORDS:
        return DEFAULT_WORDS[cell](param, setting)
    text = literal(cell)
    if text is None:
        return f"default {cell!r} is neither a `literal` nor one of the words {sorted(DEFAULT_WORDS)}"
    if param.default not in (None, ()):
        sources = [("the option's default", param.default)]
        if setting is not None:
            sources.append((setting, setting_default(setting)))
    elif setting is not None:
        sources = [(setting, setting_default(setting))]
    else:
        return f"documents default {cell} but the option has none and its meaning cell names no setting"
    return "; ".join(f"documents {cell} but {name} is `{cli_text(value)}`" + (" (empty)" if not cli_text(value) else "")
                     for name, value in sources if cli_text(value) != text)


@pytest.mark.parametrize("command", sorted(cli_tables()))
def test_cli_table_matches_the_command(command: str) -> None:
    table = cli_tables()[command]
    commands = click_commands()
    assert command in commands, f"{table.where()}: there is no command rltf {command}"
    params = {param_name(param): param for param in commands[command].params}
    documented = {}
    problems = []
    for row in table.rows:
        names = code_names(row[0])
        if len(row) != len(CLI_HEADER) or len(names) != 1:
            problems.append(f"{table.where()}: row {row!r} is not | `--option` | default | meaning |")
            continue
        documented[names[0]] = row
    for name in sorted(params.keys() - documented.keys()):
        problems.append(f"{table.where()}: option {name} of rltf {command} is not documented")
    for name in sorted(documented.keys() - params.keys()):
        problems.append(f"{table.where()}: documents {name}, which rltf {command} does not have")
    for name in sorted(documented.keys() & params.keys()):
        _, cell, meaning = documented[name]
        problem = default_problem(params[name], cell, meaning)
        if problem:
            problems.append(f"{table.where(name)}: {problem}")
    report(problems)


def test_every_command_with_options_has_a_table() -> None:
    tables = cli_tables()
    missing = [name for name, command in click_commands().items() if command.params and name not in tables]
    assert not missing, f"{CLI_MD.name}: no options table for rltf {', '.join(missing)}"


# docs/training.md: one settings table per config section, and the unittest provider's options.

SETTINGS_HEADER = ("setting", "default", "paper", "meaning")
UNITTEST_HEADER = ("option", "default", "paper", "meaning")


def settings_tables() -> dict[str, Table]:
    """The tables of docs/training.md under headings such as ``[model]``, by section."""
    return tables_by_heading(TRAINING_MD, SETTINGS_HEADER, r"`\[(\w+)\]`",
                             "a settings table must sit under a '### `[section]`' heading")


def documented_defaults(table: Table, width: int) -> tuple[dict[str, str], list[str]]:
    """Each documented name's default cell (a row may name several), and the rows that do not parse."""
    defaults, problems = {}, []
    for row in table.rows:
        names = code_names(row[0])
        if len(row) != width or not names:
            problems.append(f"{table.where()}: row {row!r} does not have {width} cells and a `name`")
        for name in names:
            if name in defaults:
                problems.append(f"{table.where(name)}: documented twice")
            defaults[name] = row[1]
    return defaults, problems


def literal_problem(cell: str, expected: Any) -> str:
    """What is wrong with a default cell that should hold ``expected`` as a TOML literal, or ""."""
    text = literal(cell)
    if text is None:
        return f"default {cell!r} is not a `TOML value`; the code's default is `{toml_text(expected)}`"
    try:
        value = parse_toml_value(text)
    except tomllib.TOMLDecodeError:
        return f"default {cell} is not a TOML value; the code's default is `{toml_text(expected)}`"
    if toml_text(value) != toml_text(expected):
        return f"documents {cell} but the code's default is `{toml_text(expected)}`"
    return ""


def test_settings_tables_are_the_config_sections() -> None:
    documented, sections = set(settings_tables()), set(SETTINGS)
    assert documented == sections, (
        f"{TRAINING_MD.name}: sections without a settings table: {sorted(sections - documented)}; "
        f"tables for no section: {sorted(documented - sections)}")


@pytest.mark.parametrize("section", list(SETTINGS))
def test_settings_table_matches_the_config(section: str) -> None:
    table = settings_tables().get(section)
    assert table is not None, f"{TRAINING_MD.name}: no settings table under '### `[{section}]`'"
    defaults, problems = documented_defaults(table, len(SETTINGS_HEADER))
    code = SETTINGS[section]
    problems += [f"{table.where()}: setting {section}.{key} is not documented" for key in code if key not in defaults]
    problems += [f"{table.where(key)}: {section}.{key} is not a setting" for key in defaults if key not in code]
    for key in defaults.keys() & code.keys():
        problem = literal_problem(defaults[key], code[key])
        if problem:
            problems.append(f"{table.where(key)}: {problem}")
    report(problems)


def parse_outcome_values(cell: str) -> dict[str, float] | None:
    """``pass 1.0, failure -0.3, ...`` (the prose of the coarse_rewards cell) as a dict, or None."""
    pairs = [part.strip().split(" ") for part in cell.split(",")]
    try:
        return {outcome: float(value) for outcome, value in pairs}
    except ValueError:
        return None


def test_unittest_options_table_matches_the_provider() -> None:
    from rltf_unittest.provider import OPTION_NAMES, Settings

    tables = [table for table in read_tables(TRAINING_MD) if table.header == UNITTEST_HEADER]
    assert len(tables) == 1, f"{TRAINING_MD.name}: expected one table of the unittest provider's options, found {len(tables)}"
    table = tables[0]
    defaults, problems = documented_defaults(table, len(UNITTEST_HEADER))
    problems += [f"{table.where()}: option {name} is not documented" for name in OPTION_NAMES if name not in defaults]
    problems += [f"{table.where(name)}: the provider has no option {name}" for name in defaults if name not in OPTION_NAMES]
    settings = Settings.from_options({})  # the defaults a run without options gets
    code = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}
    for name in defaults.keys() & code.keys():
        cell, expected = defaults[name], code[name]
        if name == "coarse_rewards":
            written = parse_outcome_values(cell)
            if written != dict(expected):
                problems.append(f"{table.where(name)}: documents {cell!r} (read as {written}) "
                                f"but the code's default is {dict(expected)}")
            continue
        problem = literal_problem(cell, expected)
        if problem:
            problems.append(f"{table.where(name)}: {problem}")
    report(problems)


def test_split_row_keeps_pipes_in_code_and_escaped_pipes() -> None:
    assert split_row("| `a|b` | x \\| y | `c` |") == ("`a|b`", "x | y", "`c`")
    assert split_row("|---|---|") == ("---", "---")


# docs/bench.md: the options of `rltf bench BENCHMARK` and `rltf bench compare`.

BENCH_MD = DOCS / "bench.md"
BENCH_FIELDS = {"--samples": "n", "--k": "ks", "--prompt-template": "template"}
# Words the bench tables use, with the BenchOptions value (or compare option default) each stands for.
BENCH_WORDS = {"the newest run under ./runs": "", "the hub dataset": "", "all": (), "the bundled one": "",
               "two per core": 0, "none": None, "off": False, "`bench/<benchmark>-<date-time>`": "",
               "required": None}


def bench_tables() -> dict[str, Table]:
    return {table.heading: table for table in read_tables(BENCH_MD) if table.header == CLI_HEADER}


def bench_code_default(name: str) -> Any:
    """What ``rltf bench apps`` does when ``name`` is not given."""
    from rltf.bench.model import DEFAULT_MAX_NEW_TOKENS
    from rltf.bench.run import BenchOptions
    from rltf.bench.selection import DEFAULT_SPLITS

    special = {"--max-new-tokens": DEFAULT_MAX_NEW_TOKENS, "--split": DEFAULT_SPLITS["apps"], "--shard": "0/1",
               "--resume": None, "--quiet": False}
    if name in special:
        return special[name]
    field = BENCH_FIELDS.get(name, name[2:].replace("-", "_"))
    default = getattr(BenchOptions(benchmark="apps"), field)
    return "0/1" if field == "shard" and default == (0, 1) else default


def same_default(cell: str, value: Any) -> bool:
    if cell in BENCH_WORDS:
        return BENCH_WORDS[cell] == value or (BENCH_WORDS[cell] in ("", (), 0, None) and not value)
    text = literal(cell)
    if text is None:
        return False
    try:
        return float(text) == float(value)
    except (TypeError, ValueError):
        return text == cli_text(value)


def bench_table_problems(table: Table, params: dict[str, Any], default: Callable[[str], Any]) -> list[str]:
    documented = {max(code_names(row[0]), key=len): row for row in table.rows if code_names(row[0])}
    problems = [f"{table.where()}: option {name} is not documented" for name in sorted(params.keys() - documented.keys())]
    problems += [f"{table.where()}: documents {name}, which the command does not have"
                 for name in sorted(documented.keys() - params.keys())]
    for name in sorted(documented.keys() & params.keys()):
        cell = documented[name][1]
        if not same_default(cell, default(name)):
            problems.append(f"{table.where(name)}: documents {cell} but the code's default is {default(name)!r}")
    return problems


def bench_params(command: str) -> dict[str, Any]:
    bench = click_commands()["bench"]
    return {param_name(param): param for param in bench.commands[command].params}


@pytest.mark.parametrize("benchmark", ["apps", "mbpp", "humaneval", "builtin"])
def test_bench_options_table_matches_the_command(benchmark: str) -> None:
    table = bench_tables()["`rltf bench BENCHMARK`"]
    report(bench_table_problems(table, bench_params(benchmark), bench_code_default))


@pytest.mark.parametrize("command, heading", [("compare", "`rltf bench compare DIR_A DIR_B [...]`"),
                                              ("merge", "`rltf bench merge SHARD_DIR... --out DIR`")])
def test_bench_compare_and_merge_tables_match_the_commands(command: str, heading: str) -> None:
    params = bench_params(command)
    table = bench_tables()[heading]
    arguments = {name for name, param in params.items() if param.param_type_name == "argument"}
    options = {name: param for name, param in params.items() if name not in arguments}
    report(bench_table_problems(table, options, lambda name: options[name].default))


def test_the_paper_preset_in_the_docs_is_the_shipped_file() -> None:
    text = TRAINING_MD.read_text()
    section = text[text.index("### The paper preset"):]
    block = section[section.index("```toml\n") + len("```toml\n"):section.index("```\n", section.index("```toml\n") + 8)]
    shipped = (Path(__file__).resolve().parents[1] / "rltf" / "presets" / "paper.toml").read_text()
    assert block == shipped, "docs/training.md's paper preset block differs from rltf/presets/paper.toml"
