"""The tiny Flux models written once per session in every layout (`files.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.flux import files


@dataclass(frozen=True)
class Written:
    dev: files.SplitFiles
    schnell_transformer: Path
    checkpoint: Path  # dev, text encoders under `text_encoders.<name>.transformer.`
    folder: Path  # dev


@pytest.fixture(scope="session")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    root = tmp_path_factory.mktemp("flux")
    dev = files.write_split_files(root, guidance=True)
    schnell = files.write_split_files(tmp_path_factory.mktemp("flux_schnell"), guidance=False)
    return Written(
        dev=dev,
        schnell_transformer=schnell.transformer,
        checkpoint=files.write_checkpoint(root, guidance=True),
        folder=files.write_diffusers_folder(root, guidance=True),
    )
