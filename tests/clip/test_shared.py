"""Worker-mode sharing: each job gets its own copy of CLIP; text classifiers are computed once."""

import torch

from ramt.clip import build_text_classifier, shared


def test_sharing_gives_independent_copies_and_memoised_text(monkeypatch):
    calls = []
    import ramt.clip.backend as backend

    orig = backend.load_backbone

    def counting(*a, **k):
        calls.append(a)
        return orig(*a, **k)

    monkeypatch.setattr(backend, "load_backbone", counting)
    shared.enable_sharing(True)
    try:
        a = shared.load_clip_shared("tiny")
        b = shared.load_clip_shared("tiny")
        assert len(calls) == 1 and a is not b
        with torch.no_grad():
            a.visual.conv1.weight.zero_()  # a trainer modifying its copy ...
        assert b.visual.conv1.weight.abs().sum() > 0  # ... leaves the others alone
        t1 = build_text_classifier(b, ["cat", "dog"], ["a photo of a {}."])
        t1.add_(1.0)  # callers may modify what they get
        t2 = build_text_classifier(b, ["cat", "dog"], ["a photo of a {}."])
        shared.enable_sharing(False)
        fresh = build_text_classifier(backend.load_clip("tiny"), ["cat", "dog"], ["a photo of a {}."])
        assert torch.equal(t2, fresh)
    finally:
        shared.enable_sharing(False)


def test_sharing_off_loads_each_time():
    shared.enable_sharing(False)
    a = shared.load_clip_shared("tiny")
    assert not hasattr(a, "_ramt_shared_key")
