"""read_text: users' files with a byte-order mark read fine; every unreadable one is a located DataError."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from rltf.errors import DataError
from rltf.inputs import load_json, numbered_lines, read_text


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"a": "é"}\n'.encode())
    assert read_text(path) == '{"a": "é"}\n'


def test_bad_byte_names_its_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf{}\n{}\n" + '{"é": "caf'.encode() + b"\xe9\"}\n{}\n")
    with pytest.raises(DataError) as caught:
        read_text(path, row="ignored for a bad byte")
    assert caught.value.row == 3
    assert str(caught.value) == f"{path}, row 3: not UTF-8 text (byte 0xE9 at column 11); save the file as UTF-8"


def test_gzip_is_unpacked(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf{}\n"))
    assert read_text(path) == "{}\n"


def test_corrupt_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(gzip.compress(b"{}\n" * 100)[:-12])
    with pytest.raises(DataError, match="not a readable gzip file") as caught:
        read_text(path)
    assert caught.value.path == str(path)
    path.write_bytes(b"{}\n")
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_text(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        read_text(tmp_path / "absent.txt", row=7)
    assert str(caught.value) == f"{tmp_path / 'absent.txt'}, row 7: no such file"


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        read_text(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a folder, not a file"


def test_a_pipe_is_refused_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    """No one ever writes into this pipe: reading it would block forever."""
    pipe = tmp_path / "rows.jsonl"
    os.mkfifo(pipe)
    (tmp_path / "link.jsonl").symlink_to(pipe)
    for path in (pipe, tmp_path / "link.jsonl"):
        with pytest.raises(DataError) as caught:
            read_text(path)
        assert str(caught.value) == f"{path}: is not a regular file (a pipe, device or socket); give a file"


def test_a_device_is_refused() -> None:
    with pytest.raises(DataError, match="is not a regular file"):
        read_text(Path("/dev/null"))


def test_path_under_a_file_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=r": cannot read \(Not a directory\)$"):
        read_text(tmp_path / "file" / "inner.txt")


def test_lines_end_only_at_newlines() -> None:
    text = '{"a": 1}\r\n\n  \n{"b": "x\u2028y"}\n{"c": 3}'
    assert numbered_lines(text) == [(1, '{"a": 1}'), (4, '{"b": "x\u2028y"}'), (5, '{"c": 3}')]


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": ' + "1" * 5000 + "}", "holds an integer of more than 4300 digits"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply to read"),
    ('{"a": }', "not valid JSON (Expecting value at column 7)"),
])
def test_json_that_cannot_be_read_is_located(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        load_json(text, "rows.jsonl", row=4)
    assert str(caught.value) == f"rows.jsonl, row 4: {message}"
