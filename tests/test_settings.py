"""Settings: defaults, paperrag.toml, environment precedence, and `paperrag config show`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from paperrag.settings import Settings
from ui.cli import app


def test_defaults_are_documented_and_home_follows_env(home):
    settings = Settings()
    assert settings.home == home
    assert settings.catalog_path == home / "catalog.sqlite"
    for section in ("sources", "fetch", "parse", "chunk", "embed", "index", "llm", "digest", "ui"):
        model = Settings.model_fields[section].annotation
        undocumented = [name for name, f in model.model_fields.items() if not f.description]
        assert not undocumented, f"{section}: settings without a description: {undocumented}"


def test_toml_then_env_precedence(home, tmp_path, monkeypatch):
    (tmp_path / "paperrag.toml").write_text(
        '[sources]\ncategories = ["cs.RO"]\nkeywords = ["vision-language-action", "vla"]\n'
        "[fetch]\ndelay_s = 4.5\n"
    )
    monkeypatch.setenv("PAPERRAG_FETCH__DELAY_S", "7")
    settings = Settings()
    assert settings.sources.categories == ["cs.RO"]
    assert settings.sources.keywords == ["vision-language-action", "vla"]
    assert settings.fetch.delay_s == 7.0  # environment beats the file


def test_unknown_key_in_toml_is_an_error_naming_it(home, tmp_path):
    (tmp_path / "paperrag.toml").write_text("[fetch]\ndelai_s = 4\n")
    with pytest.raises(Exception) as info:
        Settings()
    assert "delai_s" in str(info.value)


def test_config_show_prints_effective_values(home, tmp_path):
    (tmp_path / "paperrag.toml").write_text('[digest]\nlanguage = "en"\n')
    result = CliRunner().invoke(app, ["config", "show", "--docs"])
    assert result.exit_code == 0, result.output
    assert 'language = "en"' in result.output
    assert str(home) in result.output
    assert "# language of the generated text" in result.output
    as_json = CliRunner().invoke(app, ["config", "show", "--json"])
    assert json.loads(as_json.output)["digest"]["language"] == "en"


@pytest.mark.parametrize("content, expected", [
    ("[fetch\ndelay_s = 4\n", "not valid TOML"),
    ("[fetch]\ndelai_s = 4\n", "setting fetch.delai_s"),
    ('[fetch]\ndelay_s = "slow"\n', "setting fetch.delay_s"),
])
def test_bad_config_is_one_line_naming_the_file(home, tmp_path, content, expected):
    import os
    import subprocess
    import sys

    (tmp_path / "paperrag.toml").write_text(content)
    env = {**os.environ, "PAPERRAG_HOME": str(home), "PAPERRAG_CONFIG": str(tmp_path / "paperrag.toml")}
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "status"], env=env, capture_output=True, text=True,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and expected in proc.stderr and "paperrag.toml" in proc.stderr
    assert proc.stderr.count("\n") == 1
