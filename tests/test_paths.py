"""File names from users stay inside their folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paths import (
    NAME_MAX_BYTES,
    UnsafePath,
    annotated_file,
    list_files,
    safe_join,
    split_annotation,
)
from engine.settings import Settings


@pytest.mark.parametrize(
    "name", ["../x.png", "a/../../x.png", "/etc/passwd", "", "a\x00b", "\\\\server\\x", "a//b.png"]
)
def test_escapes_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, name)


@pytest.mark.parametrize("name", [".", "..", "./", "sub/.", "sub/..", "sub/", "sub/./x.png"])
def test_a_name_for_the_folder_itself_or_its_parent_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(UnsafePath, match="must name a file inside its folder"):
        safe_join(tmp_path, name)


@pytest.mark.parametrize("name", ["a\nb.png", "a\x7fb.png", "tab\there.png"])
def test_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath, match="control characters"):
        safe_join(tmp_path, name)


@pytest.mark.parametrize("name", ["x" * (NAME_MAX_BYTES + 1), "é" * 128, "a/" * 600 + "b.png"])
def test_names_too_long_for_the_file_system_are_refused_before_touching_it(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(UnsafePath, match="too long"):
        safe_join(tmp_path, name)


def test_a_name_at_the_length_limit_is_accepted(tmp_path: Path) -> None:
    name = "x" * NAME_MAX_BYTES
    assert safe_join(tmp_path, name) == tmp_path.resolve() / name


def test_a_lone_surrogate_is_refused_but_a_name_read_from_disk_is_not(tmp_path: Path) -> None:
    with pytest.raises(UnsafePath, match="not valid text"):
        safe_join(tmp_path, "\ud800.png")
    undecodable = "caf\udce9.png"  # b"caf\xe9.png" as os.listdir gives it
    assert safe_join(tmp_path, undecodable).name == undecodable


def test_symlink_out_is_refused_and_not_listed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "sub").mkdir()
    (root / "sub" / "ok.png").write_bytes(b"x")
    with pytest.raises(UnsafePath):
        safe_join(root, "link.png")
    assert safe_join(root, "sub/ok.png") == (root / "sub" / "ok.png").resolve()
    assert list_files(root, (".png",)) == ["sub/ok.png"]


def test_symlink_loops_are_refused_and_not_listed(tmp_path: Path) -> None:
    (tmp_path / "loop.png").symlink_to("loop.png")
    (tmp_path / "loopdir").symlink_to("loopdir", target_is_directory=True)
    (tmp_path / "ok.png").write_bytes(b"x")
    for name in ("loop.png", "loopdir/x.png"):
        with pytest.raises(UnsafePath, match="cannot be followed"):
            safe_join(tmp_path, name)
    assert list_files(tmp_path, (".png",)) == ["ok.png"]


def test_a_folder_that_is_a_symlink_loop_lists_nothing(tmp_path: Path) -> None:
    (tmp_path / "input").symlink_to("input", target_is_directory=True)
    assert list_files(tmp_path / "input", (".png",)) == []
    with pytest.raises(UnsafePath):
        safe_join(tmp_path / "input", "x.png")


def test_files_whose_names_could_not_be_asked_for_are_not_listed(tmp_path: Path) -> None:
    (tmp_path / "line\nbreak.png").write_bytes(b"x")
    (tmp_path / "ok.png").write_bytes(b"x")
    assert list_files(tmp_path, (".png",)) == ["ok.png"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.png [output]", ("x.png", "output")),
        ("sub/x.png [temp]", ("sub/x.png", "temp")),
        ("x.png [input]", ("x.png", "input")),
        ("x.png", ("x.png", None)),
        ("x.png[output]", ("x.png[output]", None)),  # ComfyUI's editor always writes the space
        ("x.png [models]", ("x.png [models]", None)),  # only the three folders
    ],
)
def test_comfyuis_folder_annotation_is_split_from_the_name(
    name: str, expected: tuple[str, str | None]
) -> None:
    assert split_annotation(name) == expected


def test_an_annotation_picks_the_folder_and_the_name_stays_confined_to_it(
    settings: Settings,
) -> None:
    assert annotated_file(settings, "a/x.png [temp]") == settings.temp_dir.resolve() / "a/x.png"
    assert annotated_file(settings, "x.png") == settings.input_dir.resolve() / "x.png"
    for name in ("../x.png [output]", "/etc/passwd [input]", "a/../../x.png [temp]"):
        with pytest.raises(UnsafePath):
            annotated_file(settings, name)
