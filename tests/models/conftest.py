"""The SD tests' tiny checkpoints and executor, shared with the model patch tests."""

from tests.sd.conftest import model_home, sd_executor, sd_registry, sd_settings  # noqa: F401
