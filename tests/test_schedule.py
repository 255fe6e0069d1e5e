"""The cron line and systemd units that run `paperrag daily`: valid, absolute, non-overlapping."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ui.cli import app
from ui.schedule import make_schedule


def test_cron_line_is_valid_and_uses_absolute_paths(tmp_path):
    files = make_schedule(at="06:05", home=tmp_path / "home", workdir=tmp_path, executable="/opt/venv/bin/paperrag")
    minute, hour, dom, month, dow, command = files.cron_line.split(" ", 5)
    assert (minute, hour, dom, month, dow) == ("5", "6", "*", "*", "*")
    assert "flock -n" in command and "/opt/venv/bin/paperrag daily" in command
    assert f"PAPERRAG_HOME={tmp_path / 'home'}" in command and command.endswith("2>&1")


def test_systemd_units_parse_and_have_what_a_timer_needs(tmp_path):
    files = make_schedule(at="07:30", home=tmp_path / "home", workdir=tmp_path, executable="/opt/venv/bin/paperrag")
    service, timer = configparser.ConfigParser(), configparser.ConfigParser()
    service.optionxform = timer.optionxform = str
    service.read_string(files.service)
    timer.read_string(files.timer)
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == "/opt/venv/bin/paperrag daily"
    assert Path(service["Service"]["WorkingDirectory"]).is_absolute()
    assert timer["Timer"]["OnCalendar"] == "*-*-* 07:30:00" and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):  # the real parser of calendar expressions, when the machine has it
        subprocess.run(["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]], check=True,
                       capture_output=True)


def test_bad_time_is_refused(tmp_path):
    with pytest.raises(ValueError, match="HH:MM"):
        make_schedule(at="25:00", home=tmp_path, workdir=tmp_path)


def test_cli_prints_both_forms(home):
    cron = CliRunner().invoke(app, ["schedule", "--at", "08:15"])
    assert cron.exit_code == 0 and " 8 * * * " in cron.stdout and "daily" in cron.stdout
    units = CliRunner().invoke(app, ["schedule", "--systemd"])
    assert "[Timer]" in units.stdout and "ExecStart=" in units.stdout
