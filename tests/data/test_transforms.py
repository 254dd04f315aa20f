import pytest
import torch
from PIL import Image

from ramt.data.transforms import build_transform
from tests.fixtures.data_fixtures import data_cfg

MEAN = "[0.48145466, 0.4578275, 0.40821073]"
STD = "[0.26862954, 0.26130258, 0.27577711]"


def test_train_lines_and_output(capsys):
    tfm = build_transform(data_cfg(), is_train=True)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Building transform_train",
        "+ random resized crop (size=(224, 224), scale=(0.5, 1.0))",
        "+ random flip",
        "+ to torch tensor of range [0, 1]",
        f"+ normalization (mean={MEAN}, std={STD})",
    ]
    x = tfm(Image.new("RGB", (300, 200), (255, 0, 0)))
    assert x.shape == (3, 224, 224)


def test_test_lines_and_clip_preprocessing(capsys):
    tfm = build_transform(data_cfg(), is_train=False)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Building transform_test",
        "+ resize the smaller edge to 224",
        "+ 224x224 center crop",
        "+ to torch tensor of range [0, 1]",
        f"+ normalization (mean={MEAN}, std={STD})",
    ]
    x = tfm(Image.new("RGB", (448, 300), (255, 255, 255)))
    assert x.shape == (3, 224, 224)
    assert torch.allclose(
        x[:, 0, 0],
        (1 - torch.tensor([0.48145466, 0.4578275, 0.40821073]))
        / torch.tensor([0.26862954, 0.26130258, 0.27577711]),
        atol=1e-5,
    )


def test_resize_inserted_without_crop(capsys):
    cfg = data_cfg(**{"INPUT.SIZE": (32, 32)})
    build_transform(cfg, is_train=True, choices=("random_flip",))
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "+ resize to 32x32"
    assert not any("normalization" in line for line in out)


def test_unknown_transform_and_interpolation():
    with pytest.raises(ValueError, match="Unknown transform 'cutmix'"):
        build_transform(data_cfg(), True, choices=("cutmix",))
    with pytest.raises(ValueError, match="INTERPOLATION"):
        build_transform(data_cfg(**{"INPUT.INTERPOLATION": "lanczos"}), True)


def test_no_transform(capsys):
    assert build_transform(data_cfg(**{"INPUT.NO_TRANSFORM": True}), True) is None
    assert "Note: no transform is applied!" in capsys.readouterr().out
