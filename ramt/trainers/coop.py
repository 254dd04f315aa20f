"""CoOp: context optimisation for CLIP (docs/BASELINES.md section 2).

A learnable context (``N_CTX`` vectors, shared or class-specific) is placed around each class
name's token embeddings; only the context is trained, with CLIP frozen and in eval mode. The
image encoder is frozen too, so its features are computed without autograd during training and
served from the split feature cache at evaluation; the text features are computed once per
evaluation. ``build_image_encoder`` is the hook the CoOp + R-AMT combination overrides.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ramt.clip import (
    encode_prompt_embeddings,
    format_classnames,
    get_tokenizer,
    maybe_half,
    normalize,
    tokenize,
)
from ramt.clip.text_lowp import LowPrecisionTextTower
from ramt.engine.clip_trainer import ClipTrainer
from ramt.engine.optim import build_lr_scheduler, build_optimizer
from ramt.engine.precision import precision_autocast, resolve_precision, use_bf16, use_compile
from ramt.registry import TRAINER_REGISTRY

PRECISIONS = ("fp16", "fp32", "amp")
POSITIONS = ("end", "middle", "front")
PROMPT_MODEL_NAME = "prompt_learner"
BUFFER_KEYS = ("token_prefix", "token_suffix")


class PromptLearner(nn.Module):
    """The learnable context plus the frozen start/name/end token embeddings of every class.

    ``forward()`` returns the assembled prompt embeddings ``[C, 77, W]``; ``tokenized_prompts``
    ``[C, 77]`` are the ids they stand for (only their EOT position is used by the text tower).
    """

    def __init__(
        self,
        clip_model: nn.Module,
        classnames,
        n_ctx: int = 16,
        ctx_init: str = "",
        csc: bool = False,
        position: str = "end",
    ) -> None:
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(
                f"TRAINER.COOP.CLASS_TOKEN_POSITION must be one of {POSITIONS}, got {position!r}."
            )
        names = format_classnames(classnames)
        n_cls = len(names)
        embed = clip_model.token_embedding
        dtype = embed.weight.dtype
        width = embed.weight.shape[1]
        ctx_init = (ctx_init or "").strip().replace("_", " ")
        if ctx_init:
            n_ctx = len(ctx_init.split(" "))
            with torch.no_grad():
                init_emb = embed(tokenize(ctx_init).to(embed.weight.device)).type(dtype)
            ctx_vectors = init_emb[0, 1 : 1 + n_ctx].clone()
            if csc:  # one copy of the init words per class
                ctx_vectors = ctx_vectors.unsqueeze(0).repeat(n_cls, 1, 1)
            prefix_text = ctx_init
        else:
            if n_ctx < 1:
                raise ValueError(f"TRAINER.COOP.N_CTX must be >= 1, got {n_ctx}.")
            shape = (n_cls, n_ctx, width) if csc else (n_ctx, width)
            ctx_vectors = torch.empty(shape, dtype=dtype, device=embed.weight.device)
            nn.init.normal_(ctx_vectors, std=0.02)
            prefix_text = " ".join(["X"] * n_ctx)
        self.ctx = nn.Parameter(ctx_vectors)
        tokenizer = get_tokenizer()
        self.name_lens = [len(tokenizer.encode(n)) for n in names]
        prompts = [f"{prefix_text} {n}." for n in names]
        tokenized = tokenize(prompts)
        with torch.no_grad():
            embedding = embed(tokenized.to(embed.weight.device)).type(dtype)
        # Buffers: saved with the context, rebuilt from the current class names on load.
        self.register_buffer("token_prefix", embedding[:, :1, :].clone())  # SOS
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx :, :].clone())  # name . EOS pad
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        self.n_cls, self.n_ctx, self.csc, self.position = n_cls, n_ctx, bool(csc), position
        self.prompt_prefix = prefix_text

    def forward(self) -> torch.Tensor:
        ctx = self.ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        prefix, suffix = self.token_prefix, self.token_suffix
        if self.position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)
        half = self.n_ctx // 2
        prompts = []
        for i, name_len in enumerate(self.name_lens):
            name_i = suffix[i : i + 1, :name_len]
            rest_i = suffix[i : i + 1, name_len:]
            ctx_i = ctx[i : i + 1]
            if self.position == "middle":
                parts = [prefix[i : i + 1], ctx_i[:, :half], name_i, ctx_i[:, half:], rest_i]
            else:  # front
                parts = [prefix[i : i + 1], name_i, ctx_i, rest_i]
            prompts.append(torch.cat(parts, dim=1))
        return torch.cat(prompts, dim=0)


@TRAINER_REGISTRY.register()
class CoOp(ClipTrainer):
    """Context Optimization (Zhou et al., IJCV 2022) on a frozen CLIP."""

    #: the TRAINER.<node> whose PREC sets the precision (CoCoOp: COCOOP)
    prec_node = "COOP"

    def check_cfg(self, cfg) -> None:
        c = cfg.TRAINER.COOP
        if c.PREC not in PRECISIONS:
            raise ValueError(f"TRAINER.COOP.PREC must be one of {PRECISIONS}, got {c.PREC!r}.")
        if c.CLASS_TOKEN_POSITION not in POSITIONS:
            raise ValueError(
                f"TRAINER.COOP.CLASS_TOKEN_POSITION must be one of {POSITIONS}, got {c.CLASS_TOKEN_POSITION!r}."
            )

    # ------------------------------------------------------------- precision
    def resolve_precision(self) -> str:
        return resolve_precision(self.cfg, self.prec_node, self.device)

    def frozen_autocast(self):
        """Autocast for the frozen image encoder: fp16 under amp, bf16 (SPEED.BF16) under fp32."""
        return precision_autocast(self.prec, self.cfg, self.device)

    def text_autocast(self):
        """Autocast for the text tower: fp16 under amp; under fp32 the fast path's bf16 autocast
        on CUDA (SPEED.BF16; the context and SGD stay fp32, bf16 needs no loss scaling)."""
        if self.prec == "amp":
            return torch.autocast("cuda", dtype=torch.float16)
        if self.prec == "fp32":
            return self.autocast()
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- model
    def build_prompt_learner(self, clip_model: nn.Module) -> PromptLearner:
        c = self.cfg.TRAINER.COOP
        return PromptLearner(clip_model, self.classnames, c.N_CTX, c.CTX_INIT, c.CSC, c.CLASS_TOKEN_POSITION)

    def build_model(self) -> None:
        cfg = self.cfg
        self.prec = self.resolve_precision()
        clip_model = self.load_clip_model()
        print(f"Precision: {self.prec}")
        maybe_half(clip_model, self.device, self.prec)
        self.image_encoder = self.build_image_encoder(clip_model)
        print("Building custom CLIP")
        self.prompt_learner = self.build_prompt_learner(clip_model)
        pl = self.prompt_learner
        print(f'Initial context: "{pl.prompt_prefix}"')
        print(f"Number of context words (tokens): {pl.n_ctx}")
        print(f"Class-specific context: {pl.csc}; class token position: {pl.position}")
        print("Turning off gradients in both the image and the text encoder")
        for p in clip_model.parameters():
            p.requires_grad_(False)
        for p in self.image_encoder.parameters():
            p.requires_grad_(False)
        clip_model.eval()
        self.image_encoder.eval()
        self.clip_model = clip_model.to(self.device)
        self.image_encoder.to(self.device)
        pl.to(self.device)
        self.logit_scale = clip_model.logit_scale.exp().item()
        # Reference mode (benchmarks): full 77-token text tower, text features per test batch.
        self.reference = bool(cfg.SPEED.REFERENCE)
        self.truncate = bool(cfg.SPEED.TRUNCATE_TEXT) and not self.reference
        optim = build_optimizer(pl, cfg.OPTIM)
        sched = build_lr_scheduler(optim, cfg.OPTIM)
        self.register_model(PROMPT_MODEL_NAME, pl, optim, sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.prec == "amp" else None
        self.eval_text_features: Optional[torch.Tensor] = None
        self.text_tower = self.build_text_tower()
        self.build_extra(clip_model)

    def build_text_tower(self) -> Optional[nn.Module]:
        """CUDA fast path (PREC fp32 + SPEED.BF16): the text tower with a bf16 copy of its frozen
        matmul weights (same numbers as autocast over the fp32 weights, without the per-step
        casts), compiled with SPEED.COMPILE. None elsewhere: the CPU keeps the fp32 tower."""
        if self.prec != "fp32" or self.reference or not use_bf16(self.cfg, self.device):
            return None
        tower = LowPrecisionTextTower(self.clip_model, torch.bfloat16).to(self.device)
        print("Text tower: bf16 copy of the frozen weights")
        if use_compile(self.cfg, self.device):
            print("torch.compile: text transformer")
            tower.transformer = torch.compile(tower.transformer)
        return tower

    def build_extra(self, clip_model: nn.Module) -> None:
        """Hook for subclasses that add components (the joint CoOp + R-AMT mode)."""

    # -------------------------------------------------------------- forwards
    @property
    def clip_dtype(self) -> torch.dtype:
        return self.clip_model.token_embedding.weight.dtype

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Image features of the frozen encoder, without autograd."""
        with torch.no_grad(), self.frozen_autocast(), self.attention_kernels():
            return self.image_encoder(images.to(self.device, dtype=self.clip_dtype))

    def encode_text(self) -> torch.Tensor:
        """Unnormalised text features ``[C, D]`` of the current prompts (gradients reach the context)."""
        pl = self.prompt_learner
        return self.encode_prompts(pl(), pl.tokenized_prompts)

    def encode_prompts(self, prompts: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Unnormalised text features ``[N, D]`` of prompt embeddings ``[N, 77, W]`` (their ids: ``tokens``)."""
        with self.text_autocast(), self.attention_kernels():
            if self.text_tower is not None:
                return self.text_tower(prompts, tokens, truncate=self.truncate)
            return encode_prompt_embeddings(self.clip_model, prompts, tokens, truncate=self.truncate)

    def logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Cosine logits, always in fp32 (the towers may run in bf16/fp16)."""
        return self.logit_scale * normalize(image_features.float()) @ normalize(text_features.float()).t()

    # ----------------------------------------------------------------- train
    def train_logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """Training logits of a batch of frozen image features (CoCoOp: per-image prompts)."""
        return self.logits(image_features, self.encode_text())

    def forward_backward(self, batch: dict) -> dict:
        images, labels = self.parse_batch_train(batch)
        image_features = self.encode_image(images)
        if self.prec == "amp":
            with self.text_autocast():
                logits = self.train_logits(image_features)
                loss = F.cross_entropy(logits, labels)
            self.scaled_backward_and_update(loss, self.scaler, PROMPT_MODEL_NAME)
        else:
            logits = self.train_logits(image_features)
            loss = F.cross_entropy(logits, labels)
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "acc": (logits.argmax(1) == labels).float().mean().item() * 100.0}
        if self.is_last_batch():
            self.update_lr()
        return summary

    # ------------------------------------------------------------------ test
    def eval_encoder_id(self) -> str:
        suffix = "@fp16" if self.clip_dtype == torch.float16 else ""
        return self.encoder_id + suffix

    def before_test(self, split: str) -> None:
        """Text features once per evaluation (CoOp's reference recomputed them per test batch)."""
        with torch.no_grad():
            self.eval_text_features = self.encode_text().float()

    def after_test(self, split: str) -> None:
        self.eval_text_features = None

    def head(self, image_features: torch.Tensor) -> torch.Tensor:
        text = self.encode_text().float() if self.reference else self.eval_text_features
        return self.logits(image_features.float(), text)

    @torch.no_grad()
    def model_inference(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode_image(images))

    def predict(self, loader, split):
        if self.reference:  # CoOp's own evaluation loop: both encoders on every test batch
            yield from super().predict(loader, split)
            return
        feats, labels = self.split_features(split, self.encode_image, self.eval_encoder_id(), loader=loader)
        yield from self.predict_from_features(feats, labels, self.head)

    # ----------------------------------------------------------- checkpoints
    def load_checkpoint_state(self, name: str, checkpoint: dict) -> None:
        if name != PROMPT_MODEL_NAME:
            return super().load_checkpoint_state(name, checkpoint)
        state = {k: v for k, v in checkpoint["state_dict"].items() if k not in BUFFER_KEYS}
        ctx = state.get("ctx")
        own = self.prompt_learner.ctx
        if ctx is not None and tuple(ctx.shape) != tuple(own.shape):
            raise ValueError(
                f"The saved context has shape {tuple(ctx.shape)} but this model needs {tuple(own.shape)} "
                f"({self.prompt_learner.n_cls} classes, N_CTX {self.prompt_learner.n_ctx}, "
                f"CSC {self.prompt_learner.csc}). A class-specific context cannot move to another class "
                "set; use the same TRAINER.COOP.N_CTX / CSC / CTX_INIT as the run that saved it."
            )
        # token_prefix/token_suffix are rebuilt from the current class names (other class sets work).
        self.prompt_learner.load_state_dict(state, strict=False)
