"""Linear probe, CoCoOp and ProGrad take every image feature from ``build_image_encoder`` (the hook the
two-stage R-AMT composition folds its masks into), and key the feature cache by ``encoder_id``."""

import pytest
import torch
import torch.nn as nn

import ramt.trainers  # noqa: F401  (registers the trainers)
from ramt.registry import TRAINER_REGISTRY
from tests.fixtures.trainer_fixtures import method_cfg

CONFIGS = {"LinearProbeCLIP": "vit_b16", "CoCoOp": "vit_b16_c4_ep10_batch1_ctxv1", "ProGrad": "vit_b16"}


class Shifted(nn.Module):
    """The plain encoder plus a constant: features that only this hook can produce."""

    def __init__(self, visual):
        super().__init__()
        self.visual, self.calls = visual, 0

    def forward(self, x):
        self.calls += 1
        return self.visual(x) + 3.0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_image_feature_comes_from_the_hook(tmp_path, data_root, name):
    base = TRAINER_REGISTRY.get(name)

    class Hooked(base):
        encoder_id = "shifted"

        def build_image_encoder(self, clip_model):
            self.plain_calls = []
            clip_model.visual.register_forward_hook(lambda *a: self.plain_calls.append(1))
            self.shifted = Shifted(super().build_image_encoder(clip_model))
            return self.shifted

    cfg = method_cfg(name, data_root, tmp_path / "o", config=CONFIGS[name], **{"OPTIM.MAX_EPOCH": 1})
    torch.manual_seed(1)
    trainer = Hooked(cfg)
    trainer.train()
    assert trainer.shifted.calls > 0
    assert len(trainer.plain_calls) == trainer.shifted.calls  # no image feature bypasses the hook
    feats, _ = trainer.split_features("test", lambda x: pytest.fail("not cached"), trainer.encoder_id)
    assert feats.shape[0] == len(trainer.dm.dataset.test)  # cached under the hook's encoder_id
