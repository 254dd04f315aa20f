"""Prompt templates, keyed by the dataset registry names (CoOp's class names).

One template per dataset (docs/METHOD_SPEC.md section 8, docs/BASELINES.md section 1); the wording is CoOp's
zero-shot wording. ``IMAGENET_TEMPLATES`` holds the 7 selected ImageNet templates used
by the optional ensemble (``ZeroshotCLIP2``).
"""

from __future__ import annotations

import difflib

from ramt.catalogue import CATALOGUE

__all__ = ["IMAGENET_TEMPLATES", "TEMPLATES", "UnknownTemplateError", "get_template", "ensemble_templates"]

#: The one template of each dataset, by registry name, from the dataset records
#: (``ramt.catalogue``; the suite's synthetic Digits included).
TEMPLATES: dict[str, str] = {src.registry: src.template for src in CATALOGUE.values()}

# The 7 selected ImageNet templates (order as listed in docs/BASELINES.md section 1).
IMAGENET_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)


class UnknownTemplateError(KeyError, ValueError):
    """No template is registered for a dataset name."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return str(self.args[0]) if self.args else ""


def get_template(dataset_name: str) -> str:
    """Return the single prompt template (with one ``{}``) for ``dataset_name``."""
    live = {src.registry: src.template for src in CATALOGUE.values()}  # incl. records registered later
    if dataset_name in live:
        return live[dataset_name]
    known = sorted(live)
    close = difflib.get_close_matches(dataset_name, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownTemplateError(
        f"No prompt template for dataset {dataset_name!r}.{hint} Known datasets: {', '.join(known)}."
    )


def ensemble_templates(dataset_name: str) -> list[str]:
    """Templates of the optional ensemble: the 7 ImageNet templates, plus the dataset's own
    template unless the dataset is ImageNet itself (a fresh list on every call)."""
    templates = list(IMAGENET_TEMPLATES)
    if dataset_name != "ImageNet":
        own = get_template(dataset_name)
        if own not in templates:
            templates.append(own)
    return templates
