"""All configuration defaults, in one place (Dassl/CoOp keys plus the project's keys).

yaml files under ``configs/`` hold overrides only. Merging follows Dassl: defaults,
dataset yaml, method yaml, CLI flags, trailing ``KEY VALUE`` pairs, then freeze.
Unknown keys and type mismatches raise :class:`ConfigError` naming the key and the fix.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from typing import Optional

from yacs.config import CfgNode as CN

from ramt.catalogue import get_source
from ramt.utils.paths import check_config_name

__all__ = ["CN", "ConfigError", "get_cfg_default", "merge_from_file", "merge_from_list"]


class ConfigError(ValueError):
    """A config file or command-line override that cannot be applied."""


def get_cfg_default() -> CN:
    """Return a fresh, unfrozen config holding every key the suite reads."""
    _C = CN()
    _C.OUTPUT_DIR = "./output"
    _C.RESUME = ""
    _C.SEED = -1
    _C.USE_CUDA = True
    _C.VERBOSE = True
    # Project: cache root for few-shot subsets, feature caches and indexes.
    # Empty means $RAMT_CACHE_DIR or ~/.cache/ramt.
    _C.CACHE_DIR = ""
    # Project: deterministic algorithms, cuDNN benchmark off (tests).
    _C.DETERMINISTIC = False

    # ------------------------------------------------------------------ input
    _C.INPUT = CN()
    # Size, interpolation, mean/std and resize mode default to the backbone's own (the backbone
    # table, or the open_clip model's pretrained config; see ramt.clip.backbones.resolve_preprocess
    # and docs/BACKBONES.md). An explicit value (yaml or command line) wins.
    _C.INPUT.SIZE = (-1, -1)  # (-1, -1) = the backbone's input size
    _C.INPUT.INTERPOLATION = "backbone"  # or bilinear / bicubic / nearest
    _C.INPUT.TRANSFORMS = ()
    _C.INPUT.NO_TRANSFORM = False
    _C.INPUT.PIXEL_MEAN = []  # [] = the backbone's
    _C.INPUT.PIXEL_STD = []  # [] = the backbone's
    # Project: test-time resize, "shortest" (smaller edge, then centre crop) or "squash".
    _C.INPUT.RESIZE_MODE = "backbone"
    _C.INPUT.RRCROP_SCALE = (0.08, 1.0)

    # ---------------------------------------------------------------- dataset
    _C.DATASET = CN()
    _C.DATASET.ROOT = ""
    _C.DATASET.NAME = ""
    _C.DATASET.SOURCE_DOMAINS = ()
    _C.DATASET.TARGET_DOMAINS = ()
    _C.DATASET.NUM_SHOTS = -1
    _C.DATASET.SUBSAMPLE_CLASSES = "all"
    # Project: where few-shot subsets are cached ("" = <CACHE_DIR>/fewshot).
    _C.DATASET.FEWSHOT_CACHE_DIR = ""
    # Project: one pass checking that every listed image exists.
    _C.DATASET.CHECK_FILES = False
    # Project: skip unreadable images with a logged warning instead of failing.
    _C.DATASET.SKIP_BAD_IMAGES = False

    # ------------------------------------------------------------- dataloader
    _C.DATALOADER = CN()
    _C.DATALOADER.NUM_WORKERS = 4
    _C.DATALOADER.K_TRANSFORMS = 1
    _C.DATALOADER.RETURN_IMG0 = False
    # Project: decoded-image caches under <CACHE_DIR>/images (evaluation: the resized, centre-
    # cropped uint8 test images; few-shot training: the decoded originals). Bitwise the same
    # tensors as decoding the JPEGs; costs per dataset in docs/SPEED.md.
    _C.DATALOADER.IMAGE_CACHE = True
    _C.DATALOADER.TRAIN_X = CN()
    _C.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"
    _C.DATALOADER.TRAIN_X.BATCH_SIZE = 32
    _C.DATALOADER.TEST = CN()
    _C.DATALOADER.TEST.SAMPLER = "SequentialSampler"
    _C.DATALOADER.TEST.BATCH_SIZE = 32

    # ------------------------------------------------------------------ model
    _C.MODEL = CN()
    _C.MODEL.BACKBONE = CN()
    # CoOp's names (RN50, RN101, ViT-B/32, ViT-B/16, ViT-L/14: OpenAI's weights), tiny, or any
    # open_clip model name (with PRETRAINED or PATH). See docs/BACKBONES.md.
    _C.MODEL.BACKBONE.NAME = ""
    # Project: a local CLIP checkpoint, OpenAI's format (TorchScript or state dict) or open_clip's
    # (.safetensors / .bin / .pt, detected by its keys).
    _C.MODEL.BACKBONE.PATH = ""
    # Project: open_clip pretraining tag for an open_clip model name (e.g. laion2b_s34b_b88k),
    # read from the local Hugging Face / open_clip cache.
    _C.MODEL.BACKBONE.PRETRAINED = ""
    # Project: UNSAFE. Unpickle a checkpoint that holds Python objects (can run arbitrary code).
    # Off: such files are refused with the command that converts them to a tensor-only file.
    _C.MODEL.BACKBONE.ALLOW_PICKLE = False

    # ------------------------------------------------------------------ optim
    _C.OPTIM = CN()
    _C.OPTIM.NAME = "adam"
    _C.OPTIM.LR = 0.0003
    _C.OPTIM.WEIGHT_DECAY = 5e-4
    _C.OPTIM.MOMENTUM = 0.9
    _C.OPTIM.SGD_DAMPNING = 0.0
    _C.OPTIM.SGD_NESTEROV = False
    _C.OPTIM.RMSPROP_ALPHA = 0.99
    _C.OPTIM.ADAM_BETA1 = 0.9
    _C.OPTIM.ADAM_BETA2 = 0.999
    _C.OPTIM.LR_SCHEDULER = "single_step"
    _C.OPTIM.STEPSIZE = (-1,)
    _C.OPTIM.GAMMA = 0.1
    _C.OPTIM.MAX_EPOCH = 10
    _C.OPTIM.WARMUP_EPOCH = -1
    _C.OPTIM.WARMUP_TYPE = "linear"
    _C.OPTIM.WARMUP_CONS_LR = 1e-5
    _C.OPTIM.WARMUP_MIN_LR = 1e-5
    _C.OPTIM.WARMUP_RECOUNT = True

    # ------------------------------------------------------------------ train
    _C.TRAIN = CN()
    # Resume state every N epochs; 0 = automatic: every epoch end unless saving is expensive
    # (over 5% of the time since the last save), then at least every TRAIN.RESUME_EVERY_S seconds.
    _C.TRAIN.CHECKPOINT_FREQ = 0
    # Project: see TRAIN.CHECKPOINT_FREQ; a negative value turns the automatic resume state off.
    _C.TRAIN.RESUME_EVERY_S = 300.0
    _C.TRAIN.PRINT_FREQ = 10
    # Scalars (losses, acc, lr, mask sparsity) under <OUTPUT_DIR>/tensorboard/, as in Dassl.
    _C.TRAIN.TENSORBOARD = True

    # ------------------------------------------------------------------- test
    _C.TEST = CN()
    _C.TEST.EVALUATOR = "Classification"
    _C.TEST.PER_CLASS_RESULT = False
    _C.TEST.COMPUTE_CMAT = False
    _C.TEST.NO_TEST = False
    _C.TEST.SPLIT = "test"
    _C.TEST.FINAL_MODEL = "last_step"

    # ---------------------------------------------------------------- trainer
    _C.TRAINER = CN()
    _C.TRAINER.NAME = ""

    _C.TRAINER.COOP = CN()
    _C.TRAINER.COOP.N_CTX = 16
    _C.TRAINER.COOP.CSC = False
    _C.TRAINER.COOP.CTX_INIT = ""
    _C.TRAINER.COOP.PREC = "fp16"  # fp16 / fp32 / amp; forced to fp32 on CPU
    _C.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end / middle / front

    _C.TRAINER.ZS = CN()
    # Project: use the 7 selected ImageNet templates (plus the dataset's own).
    _C.TRAINER.ZS.ENSEMBLE = False

    _C.TRAINER.TIP = CN()
    _C.TRAINER.TIP.FINETUNE = False
    _C.TRAINER.TIP.AUGMENT_EPOCH = 10
    # -1 (the sentinel) = the dataset's value in ramt.policy.TIP_SETTINGS (TIP_SETTINGS_DEFAULT
    # for a dataset not in the table); any other value is used as given.
    _C.TRAINER.TIP.INIT_BETA = -1.0
    _C.TRAINER.TIP.INIT_ALPHA = -1.0
    _C.TRAINER.TIP.SEARCH_SCALE = (-1.0, -1.0)
    _C.TRAINER.TIP.SEARCH_STEP = (200, 20)
    _C.TRAINER.TIP.SEARCH_HP = True
    _C.TRAINER.TIP.LR = 0.001
    _C.TRAINER.TIP.EPS = 1e-4
    _C.TRAINER.TIP.TRAIN_EPOCH = -1  # -1 = the table (see INIT_BETA)
    _C.TRAINER.TIP.BATCH_SIZE = 256
    # Project: "last" (default, policy) or "val" (pick the Tip-F epoch on few-shot val).
    _C.TRAINER.TIP.SELECT = "last"
    # Selection protocol (ramt.selection; docs/METHODS.md). Where (beta, alpha) are searched:
    # "val_fewshot" (default, no test data touched) | "val" (full val split, the official code on
    # 10 datasets) | "test" (the official code on ImageNet).
    _C.TRAINER.TIP.SEARCH_SPLIT = "val_fewshot"
    # Which Tip-F adapter is kept: "last" (default) | "best_test" (the official code: the epoch best
    # on test, and the reported accuracy is the max of that epoch's and the searched test accuracy).
    _C.TRAINER.TIP.F_EPOCH = "last"

    # Linear-probe CLIP (CoOp's lpclip/): sklearn LogisticRegression on frozen features, C searched on
    # the few-shot val split (coarse grid, then SEARCH_STEPS rounds of the binary refinement).
    _C.TRAINER.LP = CN()
    _C.TRAINER.LP.C_GRID = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)
    _C.TRAINER.LP.SEARCH_STEPS = 8
    _C.TRAINER.LP.MAX_ITER = 1000

    # CoCoOp (CoOp's trainers/cocoop.py): context + meta-net bias per image.
    _C.TRAINER.COCOOP = CN()
    _C.TRAINER.COCOOP.N_CTX = 16
    _C.TRAINER.COCOOP.CTX_INIT = ""
    _C.TRAINER.COCOOP.PREC = "fp16"  # fp16 / fp32 / amp; forced to fp32 on CPU
    # Project: at most this many (image, class) prompts per text-encoder call at evaluation.
    _C.TRAINER.COCOOP.MAX_PROMPTS = 8192

    # ProGrad (BeierZhu/Prompt-align; their LOSS.LAMBDA / LOSS.T): CoOp's context keys apply.
    _C.TRAINER.PROGRAD = CN()
    # -1.0 = their README: 0.8 at 8/16 shots on Flowers102, DTD and EuroSAT, 1.0 otherwise.
    _C.TRAINER.PROGRAD.LAMBDA = -1.0
    _C.TRAINER.PROGRAD.T = 1.0
    # Their CTX_INIT True: the last context vectors start as the dataset template's words, the
    # others at zero (TRAINER.COOP.CTX_INIT is ignored then).
    _C.TRAINER.PROGRAD.TEMPLATE_INIT = True

    # VPT-deep as MaPLe's trainers/vpt.py and configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml.
    _C.TRAINER.VPT = CN()
    _C.TRAINER.VPT.N_CTX_VISION = 8  # prompt tokens per layer
    _C.TRAINER.VPT.PROMPT_DEPTH_VISION = 12  # layers with their own prompts (1 = shallow VPT)
    _C.TRAINER.VPT.PREC = "fp16"  # fp16 / fp32 / amp; forced to fp32 on CPU
    # The fixed text classifier's prompt (the authors' "a photo of a {}."; "" = the dataset's template).
    _C.TRAINER.VPT.TEMPLATE = "a photo of a {}."

    # UPT (Zang et al. 2022; no public code): project choices, docs/BASELINES.md.
    _C.TRAINER.UPT = CN()
    _C.TRAINER.UPT.N_CTX_TEXT = 16  # text context tokens (CoOp-style, before the class name)
    _C.TRAINER.UPT.N_CTX_VISION = 16  # visual prompt tokens at the image encoder input
    _C.TRAINER.UPT.DIM = 512  # width of the shared prompts and the light transformer
    _C.TRAINER.UPT.HEADS = 8  # attention heads of the light transformer
    _C.TRAINER.UPT.LAYERS = 1  # layers of the light transformer (1, as the paper)
    _C.TRAINER.UPT.PREC = "fp16"  # fp16 / fp32 / amp; forced to fp32 on CPU

    # -------------------------------------------------------------- R-AMT masks
    _C.MASK = CN()
    _C.MASK.PREC = "fp32"
    _C.MASK.MASK_LOSS = True
    _C.MASK.LOSS_WEIGHT = 1e-4
    _C.MASK.SCALE = 1e-2
    _C.MASK.THRESHOLD = 5e-3
    _C.MASK.INIT = "1s"  # 1s / uniform
    _C.MASK.THRESHOLD_FN = "binarizer"
    # Official synonym for MASK.LAYERS ("all",).
    _C.MASK.MASK_MLP = False
    _C.MASK.FUSE_ALPHA = 1.0
    _C.MASK.GDR = True
    _C.MASK.GDR_T = 1.0
    # -1.0 = use the per-dataset lambda table (docs/METHOD_SPEC.md section 6).
    _C.MASK.GDR_LAMBDA = -1.0
    # Project: tokens from {attn, mlp, conv1, all}.
    _C.MASK.LAYERS = ("attn", "conv1")
    # Project: folder of a finished R-AMT run whose masks a combination reuses.
    _C.MASK.SOURCE_RUN = ""

    _C.COMBO = CN()
    _C.COMBO.MODE = "two_stage"  # two_stage / joint

    # ------------------------------------------------------------ fast path
    _C.SPEED = CN()
    # bf16 autocast for the frozen encoders on CUDA (masks, losses, optimiser stay fp32).
    _C.SPEED.BF16 = True
    # torch.compile the image encoder (CUDA only).
    _C.SPEED.COMPILE = False
    # torch.compile mode with SPEED.COMPILE ("" = default; "reduce-overhead" adds CUDA graphs).
    _C.SPEED.COMPILE_MODE = ""
    # Run CoOp's text encoder only up to the longest prompt's end-of-text token.
    _C.SPEED.TRUNCATE_TEXT = True
    # Cache image features of frozen encoders across runs (zero-shot, CoOp eval, Tip).
    _C.SPEED.FEATURE_CACHE = True
    # Reference mode: the official implementations' precision and kernels (fp32, unfused attention,
    # no fused optimiser, no feature cache, CoOp's text features per test batch). The benchmark
    # harness adds the official R-AMT step (benchmarks/reference.py) on top.
    _C.SPEED.REFERENCE = False
    return _C


def _closest(key: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.5)
    return f" Did you mean {match[0]}?" if match else ""


def _all_keys(cfg: CN, prefix: str = "") -> list[str]:
    keys = []
    for k, v in cfg.items():
        full = f"{prefix}{k}"
        if isinstance(v, CN):
            keys.extend(_all_keys(v, full + "."))
        else:
            keys.append(full)
    return keys


# Dassl keys this suite does not accept (nothing here would honour them), and why.
REMOVED_KEYS = {
    "VERSION": "it is not read",
    "MODEL.INIT_WEIGHTS": "CLIP's weights come from MODEL.BACKBONE.NAME / MODEL.BACKBONE.PATH",
    "OPTIM.STAGED_LR": "every trainer optimises one parameter group",
    "OPTIM.NEW_LAYERS": "every trainer optimises one parameter group",
    "OPTIM.BASE_LR_MULT": "every trainer optimises one parameter group",
    "TRAIN.COUNT_ITER": "every trainer iterates over its one labelled loader (train_x)",
    "MODEL.HEAD.NAME": "the CLIP trainers have no separate head network",
}


def _check_override(cfg: CN, key: str, value, origin: str) -> None:
    """Raise ConfigError when ``key`` is unknown or ``value`` has the wrong type."""
    if key in REMOVED_KEYS:
        raise ConfigError(
            f"Config key '{key}' (from {origin}) is not supported by this suite: {REMOVED_KEYS[key]}. "
            "Remove it from the file or command line."
        )
    node = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, CN) or part not in node:
            raise ConfigError(
                f"Unknown config key '{key}' (from {origin}). Every key must exist in the "
                f"defaults in ramt/config.py.{_closest(key, _all_keys(cfg))} "
                "Fix the spelling or remove the key."
            )
        if i < len(parts) - 1:
            node = node[part]
    default = node[parts[-1]]
    if isinstance(default, CN):
        return
    ok_pairs = {(list, tuple), (tuple, list)}
    if value is not None and default is not None and type(value) is not type(default):
        if (type(value), type(default)) in ok_pairs:
            return
        hint = ""
        if isinstance(default, float) and isinstance(value, int):
            hint = f" Write it as a float, e.g. {float(value)!r}."
        raise ConfigError(
            f"Config key '{key}' (from {origin}) expects {type(default).__name__} "
            f"(default {default!r}) but got {type(value).__name__} {value!r}.{hint}"
        )


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        full = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(_flatten(v, full + "."))
        else:
            out.append((full, v))
    return out


SHIPPED_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def shipped_config_names(kind: str) -> list[str]:
    """Names of the configs shipped in the package: ``datasets`` -> ``digits``, ...; ``trainers`` -> ``RAMT/vit_b16``."""
    root = os.path.join(SHIPPED_CONFIGS, kind)
    names = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".yaml"):
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                names.append(rel[: -len(".yaml")].replace(os.sep, "/"))
    return sorted(names)


def resolve_config_file(path: str, kind: str = "") -> str:
    """An existing yaml path, or a shipped config named as ``digits`` / ``RAMT/vit_b16`` (``kind``:
    ``datasets`` or ``trainers``). Paths are tried first, so a user's file always wins."""
    if os.path.isfile(path):
        return path
    check_config_name(path, kind)
    stem = path[: -len(".yaml")] if path.endswith(".yaml") else path
    kinds = [kind] if kind else ["datasets", "trainers"]
    for k in kinds:
        for candidate in (stem, stem.replace(f"configs/{k}/", "", 1)):
            shipped = os.path.join(SHIPPED_CONFIGS, k, candidate + ".yaml")
            if os.path.isfile(shipped):
                return shipped
    known = ", ".join(n for k in kinds for n in shipped_config_names(k))
    hint = difflib.get_close_matches(stem, [n for k in kinds for n in shipped_config_names(k)], n=1)
    hint_s = f" Did you mean '{hint[0]}'?" if hint else ""
    raise ConfigError(
        f"Config file not found: {path}. Pass an existing yaml file, or the name of a shipped "
        f"config ({known}).{hint_s}"
    )


def recipe_config(trainer: str, dataset_config: str, default: str = "vit_b16") -> str:
    """The shipped config a runner script uses for ``trainer`` on a dataset (config name):
    ``<trainer>/<dataset>_vit_b16`` when the dataset has its own recipe, else ``<trainer>/<default>``
    (scripts/common.sh ``recipe_config``)."""
    own = f"{trainer}/{dataset_config}_vit_b16"
    if os.path.isfile(os.path.join(SHIPPED_CONFIGS, "trainers", own + ".yaml")):
        return own
    return f"{trainer}/{default}"


def load_yaml_config(cfg: CN, path: str) -> CN:
    """Read a yaml config with yacs (``yaml.safe_load``); bad yaml and Python tags become one ConfigError."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return cfg.load_cfg(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", "") or e).split())
        tag = re.search(r"tag '([^']+)'", str(e))
        fix = (
            f"it uses the YAML tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')!r}: config files hold plain values only (read with "
            "yaml.safe_load). Remove the tag and write the value as a plain number, string or list."
            if tag
            else f"{problem}. Fix the yaml syntax there."
        )
        raise ConfigError(f"Cannot read the config file {path}{where}: {fix}") from None


def dataset_record_config(name: str) -> Optional[CN]:
    """The dataset config derived from a catalogue record (``DATASET.NAME``: its registry name),
    for ``--dataset-config-file NAME`` when no yaml file of that name exists; None if no record."""
    stem = os.path.basename(name)[: -len(".yaml")] if name.endswith(".yaml") else os.path.basename(name)
    try:
        src = get_source(stem)
    except KeyError:
        return None
    return CN({"DATASET": CN({"NAME": src.registry})})


def merge_from_file(cfg: CN, path: str, kind: str = "") -> None:
    """Merge a yaml file (a path or a shipped config name) into ``cfg`` with clear errors; a
    dataset name without a yaml file is derived from its catalogue record."""
    if kind == "datasets" and not os.path.isfile(path):
        try:
            resolve_config_file(path, kind)
        except ConfigError:
            derived = dataset_record_config(path)
            if derived is None:
                raise
            cfg.merge_from_other_cfg(derived)
            return
    path = resolve_config_file(path, kind)
    loaded = load_yaml_config(cfg, path)
    for key, value in _flatten(loaded):
        _check_override(cfg, key, _coerce(value), f"file {path}")
    try:
        cfg.merge_from_other_cfg(loaded)
    except (KeyError, ValueError) as e:  # pragma: no cover - guarded above
        raise ConfigError(f"Cannot merge {path}: {e}") from e


def _coerce(value):
    """Literal-evaluate strings the way yacs does (``1e-5`` -> float, ``True`` -> bool)."""
    if isinstance(value, CN):
        return value
    return CN._decode_cfg_value(value)


def merge_from_list(cfg: CN, opts: Sequence[str], origin: str = "command line") -> None:
    """Merge trailing ``KEY VALUE`` pairs, with clear errors."""
    if len(opts) % 2 != 0:
        raise ConfigError(
            f"Options on the {origin} must come as KEY VALUE pairs; got an odd number of items: "
            f"{list(opts)}. Add the missing value."
        )
    pairs = list(zip(opts[0::2], opts[1::2]))
    for key, raw in pairs:
        _check_override(cfg, key, _coerce(raw), origin)
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, ValueError, AssertionError) as e:  # pragma: no cover - guarded above
        raise ConfigError(f"Cannot apply options {list(opts)}: {e}") from e


def resolve_cache_dir(cfg: CN) -> str:
    """The cache root: CACHE_DIR, else $RAMT_CACHE_DIR, else ~/.cache/ramt."""
    if cfg.CACHE_DIR:
        return os.path.abspath(os.path.expanduser(cfg.CACHE_DIR))
    env = os.environ.get("RAMT_CACHE_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.expanduser("~"), ".cache", "ramt")


def mask_layers(cfg: CN) -> tuple[str, ...]:
    """The effective mask layer selection (MASK.MASK_MLP True is a synonym for ('all',))."""
    if cfg.MASK.MASK_MLP:
        return ("all",)
    return tuple(cfg.MASK.LAYERS)
