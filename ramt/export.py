"""Export a finished R-AMT run: CLIP with the binary masks folded in, or the masks alone.

    python -m ramt.export RUN_DIR --format open_clip --out tuned.pt [--dtype fp16|fp32]
    python -m ramt.export RUN_DIR --format openai    --out tuned_openai.pt
    python -m ramt.export RUN_DIR --format masks     --out masks.safetensors

``openai``: a state dict under OpenAI's keys (``visual.conv1.weight``, ...), the format CoOp-style
code reads (``clip.model.build_model(torch.load(FILE))``) and this suite's
``MODEL.BACKBONE.PATH FILE``. Only for networks OpenAI's format can describe (QuickGELU, 64-wide
heads); anything else is refused.

``open_clip``: open_clip's state dict plus the model config next to it (``<FILE stem>.json``)::

    import open_clip
    open_clip.add_model_config("tuned.json")            # registers the architecture as "tuned"
    model = open_clip.create_model("tuned", pretrained="tuned.pt")

(for OpenAI's ViTs, ``open_clip.create_model("ViT-B-16-quickgelu", pretrained="tuned.pt")`` works
too; the command prints the lines that fit the run). A ``.safetensors`` FILE is written as
safetensors, anything else with ``torch.save``.

``masks``: the bit-packed masks alone with a JSON header (:mod:`ramt.masks.files`), accepted by
``MASK.SOURCE_RUN`` and ``python -m ramt.analyze``.

Every export of weights is checked before it is kept: the written file is loaded back the way a
user would load it and must give the same image and text features as the folded model.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Optional

import open_clip
import torch
import torch.nn as nn
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from open_clip.transformer import QuickGELU, VisionTransformer
from safetensors.torch import save_file

from ramt.analyze.runs import head_width_for, mask_checkpoint
from ramt.clip import CLIP_NAMES, clip_input_size, get_tokenizer, is_vit, load_clip
from ramt.clip.backend import load_backbone
from ramt.config import _flatten, get_cfg_default, mask_layers
from ramt.engine.checkpoint import load_checkpoint
from ramt.masks import MaskSet, fold_masks_, load_checked_masks_, read_masks_file, write_masks_file
from ramt.utils.io import atomic_write_json

__all__ = [
    "ExportError",
    "build_parser",
    "export_run",
    "folded_clip",
    "main",
    "open_clip_model_config",
    "run_config",
]

FORMATS = ("openai", "open_clip", "masks")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


class ExportError(ValueError):
    """The run cannot be exported in the requested format (the message says why and what to do)."""


# ----------------------------------------------------------------------------- the run
def run_config(run_dir: str):
    """The run's config (defaults + the values recorded in its ``results.json``)."""
    path = os.path.join(run_dir, "results.json")
    if not os.path.isfile(path):
        raise ExportError(
            f"{run_dir} has no results.json, so the backbone it was trained on is unknown. Export a finished "
            "R-AMT run folder (its log.txt ends with a result), or export its masks with --format masks."
        )
    with open(path) as f:
        recorded = json.load(f).get("config") or {}
    cfg = get_cfg_default()
    for key, value in _flatten(recorded):
        node = cfg
        ok = True
        for part in key.split(".")[:-1]:
            if part not in node:
                ok = False
                break
            node = node[part]
        leaf = key.split(".")[-1]
        if ok and leaf in node:
            node[leaf] = tuple(value) if isinstance(node[leaf], tuple) and isinstance(value, list) else value
    return cfg


def _pretrained_tag(cfg) -> str:
    tag = cfg.MODEL.BACKBONE.get("PRETRAINED", "")
    if isinstance(tag, str) and tag:
        return tag
    if not cfg.MODEL.BACKBONE.PATH and cfg.MODEL.BACKBONE.NAME in CLIP_NAMES:
        return "openai"
    return ""


def _load_run_clip(cfg) -> nn.Module:
    """CLIP exactly as the run's trainer loaded it (fp32, eval, frozen, CPU)."""
    bb = cfg.MODEL.BACKBONE
    print(f"Loading CLIP (backbone: {bb.NAME or bb.PATH})")
    return load_backbone(
        bb.NAME, bb.PATH, device="cpu", pretrained=bb.PRETRAINED, allow_pickle=bb.ALLOW_PICKLE
    ).model


def _run_masks(run_dir: str) -> tuple[dict, dict]:
    """``(payload, mask_run.json)`` of a run folder or mask file."""
    if os.path.isfile(run_dir):
        payload, header = read_masks_file(run_dir)
        return payload, dict(header.get("run") or {}, mask_fingerprint=header["fingerprint"])
    ckpt = mask_checkpoint(run_dir)
    if ckpt is None:
        raise ExportError(
            f"{run_dir} holds no R-AMT masks (shared/checkpoint is missing or dangling). Pass a finished "
            "R-AMT run folder (e.g. output/digits/RAMT/<exp>/seed1)."
        )
    info_path = os.path.join(run_dir, "mask_run.json")
    info = json.load(open(info_path)) if os.path.isfile(info_path) else {}
    return load_checkpoint(ckpt)["state_dict"], info


def folded_clip(run_dir: str) -> tuple[nn.Module, Any, dict]:
    """``(clip_model, cfg, info)``: the run's CLIP with its binary masks folded into the image encoder.

    The masks are checked against the model (names and shapes) and against the fingerprint recorded
    in ``mask_run.json``.
    """
    cfg = run_config(run_dir)
    payload, info = _run_masks(run_dir)
    model = _load_run_clip(cfg)
    mask_set = MaskSet.from_module(
        model.visual, layers=payload.get("layers") or mask_layers(cfg), threshold=float(payload["threshold"])
    )
    fingerprint = load_checked_masks_(mask_set, payload, info.get("mask_fingerprint"), run_dir, ExportError)
    fold_masks_(model.visual, mask_set)
    zeros = mask_set.num_entries - int(mask_set.binary_flat().sum())
    info = dict(info, mask_fingerprint=fingerprint, zeros=zeros, total=mask_set.num_entries)
    return model, cfg, info


# ----------------------------------------------------------------------------- open_clip config
def _is_quick_gelu(block: nn.Module) -> bool:
    return isinstance(getattr(block.mlp, "gelu", None), QuickGELU)


def open_clip_model_config(model: nn.Module) -> dict:
    """open_clip's model config (``embed_dim``, ``vision_cfg``, ``text_cfg``, ``quick_gelu``) of a CLIP
    with a ``VisionTransformer`` image tower and the built-in text tower; only values that differ from
    open_clip's defaults are listed. Raises :class:`ExportError` for other architectures."""
    if (
        type(model) is not CLIP
        or not isinstance(model.visual, VisionTransformer)
        or model.transformer is None
    ):
        raise ExportError(
            f"Cannot describe {type(model).__name__} (image tower {type(model.visual).__name__}) as an open_clip "
            "model config: --format open_clip supports open_clip CLIP models with a VisionTransformer image tower "
            "and the built-in text tower."
        )
    v, t = model.visual, model.transformer
    vblock, tblock = v.transformer.resblocks[0], t.resblocks[0]
    width = v.conv1.out_channels
    size = v.image_size
    vision = {
        "image_size": list(size)
        if isinstance(size, (tuple, list)) and size[0] != size[1]
        else int(size[0] if isinstance(size, (tuple, list)) else size),
        "layers": len(v.transformer.resblocks),
        "width": width,
        "head_width": width // vblock.attn.num_heads,
        "mlp_ratio": vblock.mlp.c_fc.out_features / width,
        "patch_size": int(v.conv1.kernel_size[0]),
    }
    text = {
        "context_length": int(model.context_length),
        "vocab_size": int(model.vocab_size),
        "width": int(t.width),
        "heads": int(tblock.attn.num_heads),
        "layers": len(t.resblocks),
        "mlp_ratio": tblock.mlp.c_fc.out_features / t.width,
    }
    vdef, tdef = asdict(CLIPVisionCfg()), asdict(CLIPTextCfg())
    return {
        "embed_dim": int(model.text_projection.shape[1]),
        "quick_gelu": _is_quick_gelu(vblock),
        "vision_cfg": {k: val for k, val in vision.items() if vdef.get(k) != val or k in ("layers", "width")},
        "text_cfg": {
            k: val for k, val in text.items() if tdef.get(k) != val or k in ("width", "heads", "layers")
        },
    }


def _openai_compatible(model: nn.Module) -> Optional[str]:
    """Why OpenAI's format cannot describe ``model`` (None when it can)."""
    if not is_vit(model) or getattr(model, "transformer", None) is None:
        return "it is not a CLIP ViT with the built-in text tower"
    vblock = model.visual.transformer.resblocks[0]
    if not _is_quick_gelu(vblock):
        return "its MLPs use GELU, OpenAI's format implies QuickGELU"
    if model.visual.conv1.out_channels // vblock.attn.num_heads != 64:
        return "its image tower's attention heads are not 64 wide (OpenAI's format implies width // 64 heads)"
    if model.transformer.width // model.transformer.resblocks[0].attn.num_heads != 64:
        return "its text tower's attention heads are not 64 wide"
    return None


# ----------------------------------------------------------------------------- writing + checks
def _state_dict(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {
        k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).cpu().contiguous()
        for k, v in model.state_dict().items()
    }


def _save_state_dict(sd: dict[str, torch.Tensor], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    if path.endswith(".safetensors"):
        save_file(sd, tmp)
    else:
        torch.save(sd, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def _features(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    size = clip_input_size(model)
    images = torch.randn(2, 3, size, size, generator=gen)
    tokens = get_tokenizer()(["a photo of a dog.", "a photo of the digit 7."])
    model = model.float().eval()
    return model.encode_image(images), model.encode_text(tokens), model.logit_scale.detach().float()


def _check_same(reference: nn.Module, reloaded: nn.Module, dtype: torch.dtype, how: str) -> None:
    """The reloaded model must give the folded model's features (weights rounded to ``dtype``)."""
    ref = copy.deepcopy(reference).to(dtype).float() if dtype != torch.float32 else reference
    for name, a, b in zip(
        ("image features", "text features", "logit scale"), _features(ref), _features(reloaded)
    ):
        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
            diff = (a - b).abs().max().item() if a.shape == b.shape else float("nan")
            raise ExportError(
                f"The exported file, re-loaded with {how}, gives different {name} than the run's folded model "
                f"(max difference {diff:.3g}); the file was removed. This architecture cannot be exported in this "
                "format."
            )


def _usage_open_clip(out: str, config_path: str, known_name: str) -> list[str]:
    name = os.path.splitext(os.path.basename(config_path))[0]
    lines = [
        "import open_clip",
        f"open_clip.add_model_config({config_path!r})",
        f"model = open_clip.create_model({name!r}, pretrained={out!r})",
    ]
    if known_name:
        lines.append(
            f"# or, without the config file: open_clip.create_model({known_name!r}, pretrained={out!r})"
        )
    return lines


def _known_open_clip_name(model: nn.Module, cfg) -> str:
    """An open_clip built-in model name with exactly this architecture (``ViT-B-16-quickgelu``...), or ''."""
    mine = open_clip_model_config(model)
    candidates = []
    name = cfg.MODEL.BACKBONE.NAME
    if name in CLIP_NAMES:
        candidates.append(CLIP_NAMES[name] + ("-quickgelu" if mine["quick_gelu"] else ""))
    elif name:
        candidates += [name, name + "-quickgelu"]
    for cand in candidates:
        ref = open_clip.get_model_config(cand)
        if not ref:
            continue
        built = open_clip.create_model(cand, pretrained=None, load_weights=False)
        if open_clip_model_config(built) == mine and set(built.state_dict()) == set(model.state_dict()):
            return cand
    return ""


def export_run(run_dir: str, fmt: str, out: str, dtype: str = "fp32", overwrite: bool = False) -> dict:
    """Write the export; returns ``{"files": [...], "usage": [lines], "info": {...}}``."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if dtype not in DTYPES:
        raise ExportError(f"Unknown --dtype {dtype!r}; choose fp32 or fp16.")
    run_dir = os.path.abspath(os.path.expanduser(run_dir))
    out = os.path.abspath(os.path.expanduser(out))
    if not os.path.exists(run_dir):
        raise ExportError(f"{run_dir} does not exist.")
    if fmt == "open_clip":
        config_path = os.path.splitext(out)[0] + ".json"
        targets = [out, config_path]
    else:
        config_path = ""
        targets = [out]
    existing = [t for t in targets if os.path.exists(t)]
    if existing and not overwrite:
        raise ExportError(
            f"{', '.join(existing)} already exist(s); choose another --out or pass --overwrite."
        )

    if fmt == "masks":
        if not out.endswith(".safetensors"):
            raise ExportError(f"--format masks writes a safetensors file: name it *.safetensors (got {out}).")
        return _export_masks(run_dir, out)

    model, cfg, info = folded_clip(run_dir)
    torch_dtype = DTYPES[dtype]
    if fmt == "openai":
        why = _openai_compatible(model)
        if why:
            raise ExportError(
                f"OpenAI's checkpoint format cannot describe this backbone ({cfg.MODEL.BACKBONE.NAME or cfg.MODEL.BACKBONE.PATH}): "
                f"{why}. Use --format open_clip."
            )

        _save_state_dict(_state_dict(model, torch_dtype), out)
        try:
            _check_same(
                model,
                load_clip("", path=out),
                torch_dtype,
                "ramt.clip.load_clip(path=FILE) (MODEL.BACKBONE.PATH)",
            )
        except Exception:
            os.remove(out)
            raise
        usage = [
            f"python train.py ... MODEL.BACKBONE.PATH {out}",
            f"# CoOp/CLIP code: clip.model.build_model(torch.load({out!r}, map_location='cpu'))",
        ]
        return {"files": [out], "usage": usage, "info": info}

    model_cfg = open_clip_model_config(model)
    _save_state_dict(_state_dict(model, torch_dtype), out)

    atomic_write_json(config_path, model_cfg)
    name = os.path.splitext(os.path.basename(config_path))[0]
    try:
        open_clip.add_model_config(config_path)
        reloaded = open_clip.create_model(name, pretrained=out)
        _check_same(model, reloaded, torch_dtype, f"open_clip.create_model({name!r}, pretrained=FILE)")
    except Exception:
        for t in targets:
            if os.path.exists(t):
                os.remove(t)
        raise
    usage = _usage_open_clip(out, config_path, _known_open_clip_name(model, cfg))
    return {"files": [out, config_path], "usage": usage, "info": info}


def _export_masks(run_dir: str, out: str) -> dict:
    payload, info = _run_masks(run_dir)
    names = [m["name"] for m in payload["masks"]]
    shapes = [m["shape"] for m in payload["masks"]]
    mask_set = MaskSet(names, shapes, layers=payload["layers"], threshold=float(payload["threshold"]))
    fingerprint = load_checked_masks_(mask_set, payload, info.get("mask_fingerprint"), run_dir, ExportError)
    pretrained = ""
    if os.path.isdir(run_dir) and os.path.isfile(os.path.join(run_dir, "results.json")):
        pretrained = _pretrained_tag(run_config(run_dir))
    backbone = info.get("backbone") or payload.get("backbone", "")
    results_path = os.path.join(run_dir, "results.json") if os.path.isdir(run_dir) else ""
    if results_path and os.path.isfile(results_path):
        info = dict(info, method=json.load(open(results_path)).get("method"))
    write_masks_file(
        out, payload, fingerprint, pretrained=pretrained, head_width=head_width_for(backbone), run_info=info
    )
    zeros = mask_set.num_entries - int(mask_set.binary_flat().sum())
    usage = [
        f"python -m ramt.analyze {out}",
        f"... MASK.SOURCE_RUN {out}  (a combination reusing these masks)",
    ]
    return {"files": [out], "usage": usage, "info": dict(info, mask_fingerprint=fingerprint, zeros=zeros)}


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ramt.export",
        description="Write a finished R-AMT run's CLIP with the binary masks folded in (OpenAI's or open_clip's "
        "format), or its masks alone (safetensors).",
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="an R-AMT run folder (or a mask file for --format masks)"
    )
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    p.add_argument("--out", required=True, help="output file (.pt/.bin, or .safetensors)")
    p.add_argument("--dtype", default="fp32", choices=tuple(DTYPES), help="weight precision (default fp32)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        res = export_run(args.run_dir, args.fmt, args.out, args.dtype, args.overwrite)
    except (ExportError, FileNotFoundError, ValueError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 2
    info = res["info"]
    print(
        f"Exported {args.run_dir} ({args.fmt}, {args.dtype if args.fmt != 'masks' else '1 bit/entry'}; "
        f"mask fingerprint {info.get('mask_fingerprint')}, {info.get('zeros', 0):,} masked entries):"
    )
    for f in res["files"]:
        print(f"  {f}")
    print("Use it with:")
    for line in res["usage"]:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
