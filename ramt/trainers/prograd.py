"""ProGrad: prompt-aligned gradient for CoOp (Zhu et al., ICCV 2023; BeierZhu/Prompt-align).

CoOp whose context gets the cross-entropy gradient, projected when it conflicts with the gradient
of the KL divergence to zero-shot CLIP (docs/BASELINES.md, "ProGrad"). The zero-shot reference
uses the dataset's hand-written template and the same frozen image features as the student (from
:meth:`ClipTrainer.build_image_encoder`, so the two-stage R-AMT composition applies unchanged).
With ``TRAINER.PROGRAD.TEMPLATE_INIT`` (their ``CTX_INIT True``) the context starts as zeros
followed by the template's words.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ramt.clip import build_text_classifier, format_classnames, get_template, normalize, tokenize
from ramt.gdr import soft_target_ce
from ramt.registry import TRAINER_REGISTRY

from .coop import PROMPT_MODEL_NAME, CoOp, PromptLearner


def prograd_gradient(g_ce: torch.Tensor, g_kl: torch.Tensor, lam: float) -> torch.Tensor:
    """ProGrad's gradient for one parameter: ``g_ce``, or, when it conflicts with ``g_kl``
    (negative cosine), ``g_ce - lam * (g_ce . u) u`` with ``u = g_kl / ||g_kl||``."""
    u = g_kl / torch.linalg.norm(g_kl)
    a_unit = g_ce / torch.linalg.norm(g_ce)
    if torch.dot(a_unit.flatten(), u.flatten()) < 0:
        return g_ce - lam * torch.dot(g_ce.flatten(), u.flatten()) * u
    return g_ce


#: their README: "the 8-shots and 16-shots results on Flowers102, DTD, and EuroSAT are gotten with lambda as 0.8"
LAMBDA_08 = ("OxfordFlowers", "DescribableTextures", "EuroSAT")


def prograd_lambda(cfg) -> float:
    """``TRAINER.PROGRAD.LAMBDA``, or with -1 the authors' choice for the dataset and shots."""
    lam = float(cfg.TRAINER.PROGRAD.LAMBDA)
    if lam >= 0:
        return lam
    return 0.8 if cfg.DATASET.NAME in LAMBDA_08 and int(cfg.DATASET.NUM_SHOTS) >= 8 else 1.0


#: Prompt-align's own templates where they differ from CoOp's (the zero-shot reference and the
#: context init use them); every other dataset uses its usual template (ramt.clip.get_template).
PROGRAD_TEMPLATES = {
    "OxfordPets": "a type of pet, a photo of a {}.",
    "OxfordFlowers": "a type of flower, a photo of a {}.",
    "FGVCAircraft": "a type of aircraft, a photo of a {}.",
    "DescribableTextures": "a texture of {}.",
    "Food101": "a type of food, a photo of {}.",
}


def prograd_template(dataset: str) -> str:
    """The template ProGrad's code uses for ``dataset``."""
    return PROGRAD_TEMPLATES.get(dataset) or get_template(dataset)


def template_words(template: str) -> str:
    """The context words of a template: ``"a photo of a {}."`` -> ``"a photo of a"`` (their CTX_INIT True)."""
    return template.replace(" {}.", "").replace("_", " ")


class TemplatePromptLearner(PromptLearner):
    """CoOp's prompt learner with ProGrad's template initialisation.

    The ``n_ctx`` vectors start as zeros followed by the embeddings of the template's first
    ``k`` tokens (``k`` = its number of words), and the prompts are tokenised from
    ``"X ... X <words> <name>."``, exactly as the authors' code (so a template whose words split
    into more tokens than words, such as "a type of pet, a photo of a", keeps its tail in the
    frozen suffix as theirs does). The context is generic (one for all classes).
    """

    def __init__(self, clip_model: nn.Module, classnames, n_ctx: int, template: str, position: str = "end"):
        words = template_words(template)
        k = len(words.split(" "))
        if n_ctx < k:
            raise ValueError(
                f"TRAINER.COOP.N_CTX {n_ctx} is smaller than the {k} words of the template {template!r} "
                "that TRAINER.PROGRAD.TEMPLATE_INIT starts the context from. Raise N_CTX to at least "
                f"{k}, or set TRAINER.PROGRAD.TEMPLATE_INIT False."
            )
        super().__init__(clip_model, classnames, n_ctx=k, ctx_init=words, csc=False, position=position)
        embed = clip_model.token_embedding
        dtype = embed.weight.dtype
        device = embed.weight.device
        with torch.no_grad():
            word_emb = embed(tokenize(words).to(device)).type(dtype)
        ctx = torch.zeros(n_ctx, embed.weight.shape[1], dtype=dtype, device=device)
        ctx[n_ctx - k :] = word_emb[0, 1 : 1 + k]
        self.ctx = nn.Parameter(ctx)
        prefix_text = " ".join(["X"] * (n_ctx - k) + [words])
        tokenized = tokenize([f"{prefix_text} {n}." for n in format_classnames(classnames)])
        with torch.no_grad():
            embedding = embed(tokenized.to(device)).type(dtype)
        self.token_prefix = embedding[:, :1, :].clone()
        self.token_suffix = embedding[:, 1 + n_ctx :, :].clone()
        self.tokenized_prompts = tokenized.to(self.token_prefix.device)
        self.n_ctx, self.prompt_prefix = n_ctx, prefix_text


@TRAINER_REGISTRY.register()
class ProGrad(CoOp):
    """CoOp with ProGrad's projected cross-entropy gradient (``TRAINER.PROGRAD.LAMBDA``, ``.T``)."""

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        p = cfg.TRAINER.PROGRAD
        if not (0.0 <= float(p.LAMBDA) <= 1.0 or float(p.LAMBDA) == -1.0):
            raise ValueError(
                f"TRAINER.PROGRAD.LAMBDA must be in [0, 1] (or -1 for the authors' per-dataset value), got {p.LAMBDA!r}."
            )
        if float(p.T) <= 0:
            raise ValueError(f"TRAINER.PROGRAD.T must be > 0, got {p.T!r}.")

    def resolve_precision(self) -> str:
        prec = super().resolve_precision()
        if prec == "amp":  # their amp branch cannot run (it unpacks a tuple loss); no loss scaling here
            print("Note: ProGrad projects unscaled gradients; TRAINER.COOP.PREC amp -> fp32")
            return "fp32"
        return prec

    def build_prompt_learner(self, clip_model: nn.Module) -> PromptLearner:
        c = self.cfg.TRAINER.COOP
        if not self.cfg.TRAINER.PROGRAD.TEMPLATE_INIT:
            return super().build_prompt_learner(clip_model)
        return TemplatePromptLearner(
            clip_model,
            self.classnames,
            c.N_CTX,
            prograd_template(self.cfg.DATASET.NAME),
            c.CLASS_TOKEN_POSITION,
        )

    def build_extra(self, clip_model: nn.Module) -> None:
        p = self.cfg.TRAINER.PROGRAD
        template = prograd_template(self.cfg.DATASET.NAME)
        self.lam = prograd_lambda(self.cfg)
        print(f"Zero-shot reference: template {template!r}; lambda {self.lam}, T {p.T}")
        self.zs_text_features = build_text_classifier(
            clip_model, self.classnames, [template], device=self.device
        )

    def zero_shot_logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """Zero-shot CLIP's logits on the same frozen image features (fp32, no autograd)."""
        with torch.no_grad():
            return self.logit_scale * normalize(image_features.float()) @ self.zs_text_features.t()

    def forward_backward(self, batch: dict) -> dict:
        images, labels = self.parse_batch_train(batch)
        image_features = self.encode_image(images)
        logits = self.train_logits(image_features)
        p = self.cfg.TRAINER.PROGRAD
        loss_ce = F.cross_entropy(logits, labels)
        loss_kl = soft_target_ce(logits, self.zero_shot_logits(image_features), float(p.T))
        self.detect_anomaly(loss_kl)
        self.detect_anomaly(loss_ce)
        self.set_prograd_gradients(loss_ce, loss_kl, self.lam)
        self.model_update(PROMPT_MODEL_NAME)
        summary = {
            "xe_loss": loss_ce.item(),
            "kl_loss": loss_kl.item(),
            "acc": (logits.argmax(1) == labels).float().mean().item() * 100.0,
        }
        if self.is_last_batch():
            self.update_lr()
        return summary

    def set_prograd_gradients(self, loss_ce: torch.Tensor, loss_kl: torch.Tensor, lam: float) -> None:
        """Each trainable parameter's ``.grad``: the CE gradient projected against the KL gradient."""
        params = [p for p in self.prompt_learner.parameters() if p.requires_grad]
        g_kl = torch.autograd.grad(loss_kl, params, retain_graph=True)
        g_ce = torch.autograd.grad(loss_ce, params)
        for param, a, b in zip(params, g_ce, g_kl):
            param.grad = prograd_gradient(a, b, lam)
