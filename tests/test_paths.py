"""File names from users stay inside their folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paths import UnsafePath, list_files, safe_join


@pytest.mark.parametrize(
    "name", ["../x.png", "a/../../x.png", "/etc/passwd", "", "a\x00b", "\\\\server\\x", "a//b.png"]
)
def test_escapes_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, name)


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
