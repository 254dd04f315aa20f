"""ramt.clip.text and ramt.clip.templates."""

from __future__ import annotations

import pytest
import torch

from ramt.clip import (
    IMAGENET_TEMPLATES,
    TEMPLATES,
    build_text_classifier,
    encode_images,
    encode_prompt_embeddings,
    encode_text_tokens,
    ensemble_templates,
    format_classnames,
    get_template,
    normalize,
    tokenize,
)

TEXTS = ["a photo of a cat.", "dog", "a much longer sentence about a very small and fluffy orange kitten."]


def test_tokenize_shape_and_dtype():
    tok = tokenize(TEXTS)
    assert tok.shape == (3, 77) and tok.dtype == torch.long
    assert tokenize("one").shape == (1, 77)


def test_truncated_text_encoding_equals_full(tiny_clip):
    tok = tokenize(TEXTS)
    with torch.no_grad():
        fast = encode_text_tokens(tiny_clip, tok, truncate=True)
        full = encode_text_tokens(tiny_clip, tok, truncate=False)
        ref = tiny_clip.encode_text(tok)
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-5)
    torch.testing.assert_close(full, ref, rtol=0, atol=1e-6)


def test_prompt_embeddings_path_matches_and_has_gradients(tiny_clip):
    tok = tokenize(TEXTS)
    emb = tiny_clip.token_embedding(tok).clone().requires_grad_(True)
    out = encode_prompt_embeddings(tiny_clip, emb, tok)
    with torch.no_grad():
        ref = encode_text_tokens(tiny_clip, tok, truncate=False)
    torch.testing.assert_close(out.detach(), ref, rtol=0, atol=1e-5)
    out.sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    eot = int(tok.argmax(-1).max())
    assert emb.grad[:, eot + 1 :].abs().sum() == 0  # nothing after the last EOT matters


def test_classifier_single_template(tiny_clip):
    W = build_text_classifier(tiny_clip, ["golden_retriever", "cat"], "a photo of a {}.")
    assert W.shape == (2, 256) and W.dtype == torch.float32
    torch.testing.assert_close(W.norm(dim=-1), torch.ones(2))
    with torch.no_grad():
        ref = normalize(
            tiny_clip.encode_text(tokenize(["a photo of a golden retriever.", "a photo of a cat."]))
        )
    torch.testing.assert_close(W, ref, rtol=0, atol=1e-5)
    # lower-casing changes nothing for CLIP's tokenizer; both averaging modes agree for one template
    W2 = build_text_classifier(
        tiny_clip, ["Golden_Retriever", "CAT"], ["a photo of a {}."], lowercase=True, normalize_each=False
    )
    torch.testing.assert_close(W, W2, rtol=0, atol=1e-6)


def test_classifier_template_averaging(tiny_clip):
    names = ["cat", "dog", "sea_lion"]
    temps = list(IMAGENET_TEMPLATES[:3])
    with torch.no_grad():
        per = torch.stack(
            [
                encode_text_tokens(tiny_clip, tokenize([t.format(n.replace("_", " ")) for n in names]))
                for t in temps
            ],
            dim=1,
        )
    each = build_text_classifier(tiny_clip, names, temps, batch_size=4)
    raw = build_text_classifier(tiny_clip, names, temps, normalize_each=False)
    torch.testing.assert_close(each, normalize(normalize(per).mean(1)), rtol=0, atol=1e-5)
    torch.testing.assert_close(raw, normalize(per.mean(1)), rtol=0, atol=1e-5)
    torch.testing.assert_close(each.norm(dim=-1), torch.ones(3))


def test_classifier_rejects_bad_template(tiny_clip):
    with pytest.raises(ValueError, match="placeholder"):
        build_text_classifier(tiny_clip, ["cat"], "a photo")


def test_format_classnames():
    assert format_classnames(["Sea_Lion", "b"]) == ["Sea Lion", "b"]
    assert format_classnames(["Sea_Lion"], lowercase=True) == ["sea lion"]


def test_encode_images(tiny_clip):
    x = torch.randn(2, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        f = encode_images(tiny_clip, x)
        ref = tiny_clip.encode_image(x.float())
    assert f.shape == (2, 256)
    torch.testing.assert_close(f, ref)


def test_templates():
    assert get_template("OxfordPets") == "a photo of a {}, a type of pet."
    assert get_template("DescribableTextures") == "{} texture."
    assert get_template("EuroSAT") == "a centered satellite photo of {}."
    assert get_template("Digits") == "a photo of the number {}."
    for name in (
        "Caltech101",
        "StanfordCars",
        "SUN397",
        "ImageNet",
        "ImageNetV2",
        "ImageNetSketch",
        "ImageNetA",
        "ImageNetR",
    ):
        assert get_template(name) == "a photo of a {}."
    assert len(TEMPLATES) == 16 and all(t.count("{}") == 1 for t in TEMPLATES.values())
    assert len(IMAGENET_TEMPLATES) == 7
    assert len(ensemble_templates("ImageNet")) == 7
    assert ensemble_templates("Food101")[-1] == "a photo of {}, a type of food."
    with pytest.raises(KeyError, match="Did you mean 'OxfordPets'"):
        get_template("OxfordPet")
