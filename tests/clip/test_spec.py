"""One backbone decision per run: the weights file is searched for and hashed once; the head
width comes from the backbone table; the trainer and the data share the spec's preprocessing."""

from __future__ import annotations

import dataclasses
import hashlib

from ramt.analyze.runs import head_width_for
from ramt.clip import backbones, spec
from ramt.clip.backbones import BACKBONES
from ramt.clip.spec import backbone_spec, clear_specs, weights_identity
from tests.fixtures.data_fixtures import data_cfg


def _cfg(tmp_path, name="ViT-B/16", path=""):
    return data_cfg(
        **{"MODEL.BACKBONE.NAME": name, "MODEL.BACKBONE.PATH": path, "CACHE_DIR": str(tmp_path / "cache")}
    )


def test_weights_file_is_searched_and_hashed_once(tmp_path, monkeypatch):
    fake = tmp_path / "clip" / "ViT-B-16.pt"
    fake.parent.mkdir()
    fake.write_bytes(b"pretend weights")
    searches, hashes = [], []
    monkeypatch.setattr(spec, "find_openai_file", lambda name: searches.append(name) or str(fake))
    real_hash = spec.file_sha256
    monkeypatch.setattr(spec, "file_sha256", lambda p, c=None: hashes.append(p) or real_hash(p, c))
    clear_specs()
    cfg = _cfg(tmp_path)
    first = backbone_spec(cfg)
    for _ in range(3):
        assert backbone_spec(cfg.clone()) is first
        assert weights_identity(cfg) == f"sha256:{hashlib.sha256(b'pretend weights').hexdigest()}"
    assert searches == ["ViT-B/16"] and hashes == [str(fake)]
    assert first.weights_file == str(fake) and first.tag == "vit_b16" and first.head_width == 64
    assert first.preprocess.size == (224, 224)
    clear_specs()


def test_a_changed_weights_file_is_resolved_again(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"one")
    clear_specs()
    a = backbone_spec(_cfg(tmp_path, path=str(f)))
    f.write_bytes(b"two")
    b = backbone_spec(_cfg(tmp_path, path=str(f)))
    assert a.digest != b.digest and b.digest == f"sha256:{hashlib.sha256(b'two').hexdigest()}"
    assert a.tag == "vit_b16_w" and a.label == "ViT-B/16 (w.pt)"  # foreign file: its own folder
    clear_specs()


def test_head_width_comes_from_the_table(monkeypatch):
    wide = dataclasses.replace(BACKBONES["ViT-L/14"], head_width=80)
    monkeypatch.setitem(backbones.BACKBONES, "ViT-L/14", wide)
    assert head_width_for("ViT-L/14") == 80
    assert head_width_for("tiny") == 64
