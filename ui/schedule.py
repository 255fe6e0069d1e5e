"""Run `paperrag daily` every morning: a crontab line or a systemd user timer, with absolute paths.

arXiv announces new papers around 20:00 US Eastern (00:00 UTC) Sunday to Thursday; a run a few hours later
in the user's morning finds the day's feed. A run that finds the day already written exits in seconds, so a
second trigger (or a catch-up after the laptop was asleep: `Persistent=true`) is harmless.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass
class ScheduleFiles:
    cron_line: str
    service: str
    timer: str


def paperrag_executable() -> str:
    found = shutil.which("paperrag")
    if found:
        return str(Path(found).resolve())
    return str(Path(sys.executable).with_name("paperrag"))


def make_schedule(*, at: str = "07:30", home: Path, workdir: Path, executable: str | None = None,
                  log: Path | None = None) -> ScheduleFiles:
    m = _TIME.match(at)
    if not m:
        raise ValueError(f"--at must be HH:MM (24 h), got {at!r}")
    hour, minute = int(m.group(1)), int(m.group(2))
    exe = executable or paperrag_executable()
    log = log or home / "daily.log"
    lock = home / ".daily.lock"
    # flock: a slow run (first day, big model) is never overlapped by the next trigger
    cron = (f"{minute} {hour} * * * cd {workdir} && PAPERRAG_HOME={home} flock -n {lock} {exe} daily "
            f">> {log} 2>&1")
    service = f"""[Unit]
Description=paperrag daily arXiv digest
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={workdir}
Environment=PAPERRAG_HOME={home}
ExecStart={exe} daily
Nice=10
"""
    timer = f"""[Unit]
Description=Run paperrag daily every morning

[Timer]
OnCalendar=*-*-* {hour:02d}:{minute:02d}:00
Persistent=true
RandomizedDelaySec=300

[Install]
WantedBy=timers.target
"""
    return ScheduleFiles(cron, service, timer)
