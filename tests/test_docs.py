"""The README is the newcomer's manual: it must stay true to the code."""

from conftest import ROOT

from flows.cli import app
from flows.settings import Settings
from schemas.dictionary import render

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_data_dictionary_is_current():
    assert render() in README, "run `python -m schemas.dictionary` and paste it into README.md"


def test_every_command_is_documented():
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        assert f"arxiv-digests {name}" in README, name


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"ARXIV_DIGESTS_{name.upper()}" in README, name


def test_the_two_commands():
    assert "make run" in README and "make test" in README
