"""Disk full: PAPERRAG_HOME on a small tmpfs filled to the last byte, then `paperrag ingest` and `paperrag daily`.
Each ends with a clear line (no traceback), the stored corpus is intact, and once space is back the same command
completes. Needs a tmpfs mount (root or CAP_SYS_ADMIN); skipped with the reason otherwise."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fakes.pdfs import make_paper_pdf

from faults.harness import cli_env, run_cli
from indexes.catalog import Catalog
from indexes.integrity import check_stores
from paperrag.settings import Settings

DEADLINE_S = 600
SIZE_MB = 96


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mnt)], capture_output=True,
                         text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a {SIZE_MB} MB tmpfs for a full disk ({got.stderr.strip()}); run as root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses another byte; returns it (delete it to give the space back)."""
    filler = disk / "filler"
    block = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    fh.write(block[:size])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    with contextlib.suppress(OSError):
        (disk / "probe").write_bytes(b"x")
    assert not (disk / "probe").exists() or (disk / "probe").stat().st_size == 0
    return filler


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def _state(home: Path) -> dict:
    cat = Catalog(Settings(home=home).catalog_path)
    try:
        return {r.key: (r.status, r.n_chunks) for r in cat.papers()}
    finally:
        cat.close()


def test_ingest_on_a_full_disk(small_disk, pristine_home, tmp_path):
    home = small_disk / "home"
    shutil.copytree(pristine_home, home)
    before = _state(home)
    new = make_paper_pdf(tmp_path / "new" / "n.pdf", title="Full Disk Paper", arxiv_id="2408.00001", seed=81)
    env = cli_env(home, tmp_path)
    filler = fill(small_disk)

    full = run_cli(["ingest", str(new)], env, timeout=DEADLINE_S)
    assert full.returncode == 1, (full.stdout[-2000:], full.stderr[-2000:])
    line = _one_error_line(full)
    assert "disk" in line.lower() and "full" in line.lower() and str(home) in line, line

    filler.unlink()  # space is back
    assert _state(home) == before  # nothing stored was lost or left half-done
    found = check_stores(Settings(home=home))
    assert found.ok, found.render()
    again = run_cli(["ingest", str(new)], env, timeout=DEADLINE_S)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _state(home)["2408.00001v1"][0] == "indexed"
    assert check_stores(Settings(home=home)).ok


def test_daily_digest_on_a_full_disk(small_disk, tmp_path):
    home = small_disk / "home"
    env = cli_env(home, tmp_path, PAPERRAG_LLM__BACKEND="fake")
    ingested = run_cli(["ingest", "--sample"], env, timeout=DEADLINE_S)
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    before = _state(home)
    filler = fill(small_disk)

    full = run_cli(["daily", "--sample"], env, timeout=DEADLINE_S)
    assert full.returncode == 1, (full.stdout[-2000:], full.stderr[-2000:])
    line = _one_error_line(full)
    assert "disk" in line.lower() and "full" in line.lower(), line
    day = home / "digests" / "2025-01-20"
    written = [p for p in day.rglob("*") if p.is_file()] if day.exists() else []
    assert not [p for p in written if p.name.startswith(".") or p.stat().st_size == 0], written

    filler.unlink()
    assert _state(home) == before
    again = run_cli(["daily", "--sample"], env, timeout=DEADLINE_S)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "digest of 2025-01-20: 3 papers" in again.stdout
    assert (day / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert not [p for p in day.rglob(".*") if p.is_file()]
    os.sync()
