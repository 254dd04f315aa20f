"""Per-dataset and per-shot tables of the paper's protocol (pure lookups, no I/O).

Keys are dataset registry names (``Caltech101``, ``OxfordFlowers``, ...).
"""

from __future__ import annotations

# docs/METHOD_SPEC.md section 6 (the README's prose, not its example commands): lambda at 16 shots.
GDR_LAMBDA_16SHOT = {
    "Caltech101": 0.3,
    "OxfordPets": 0.3,
    "StanfordCars": 0.3,
    "OxfordFlowers": 0.3,
    "FGVCAircraft": 0.3,
    "DescribableTextures": 0.3,
    "EuroSAT": 0.3,
    "UCF101": 0.3,
    "ImageNet": 1.0,
    "SUN397": 1.0,
    "Food101": 1.0,
}
GDR_LAMBDA_DEFAULT = 1.0


def gdr_lambda(
    dataset: str, shots: int, subsample_classes: str = "all", override: float = -1.0
) -> tuple[float, str]:
    """The GDR lambda for a run and where it came from (an override in [0, 1] wins)."""
    if override is not None and override >= 0:
        if override > 1:
            raise ValueError(f"MASK.GDR_LAMBDA must be in [0, 1] (or -1.0 for the table), got {override}")
        return float(override), "MASK.GDR_LAMBDA override"
    if subsample_classes != "all":
        return GDR_LAMBDA_DEFAULT, "table (base-to-new: 1.0)"
    if shots == 16 and dataset in GDR_LAMBDA_16SHOT:
        return GDR_LAMBDA_16SHOT[dataset], f"table (16 shots, {dataset})"
    return GDR_LAMBDA_DEFAULT, f"table ({shots} shots: 1.0)"


def coop_epochs(dataset: str, shots: int) -> int:
    """CoOp's epoch count: 50 for 1 shot and ImageNet, 100 for 2/4 shots, 200 for 8/16 shots."""
    if dataset == "ImageNet" or shots <= 1:
        return 50
    if shots <= 4:
        return 100
    return 200


def coop_config_name(dataset: str, shots: int) -> str:
    """The CoOp config file stem used for a dataset/shot count (vit_b16_ep50 / _ep100 / vit_b16)."""
    return {50: "vit_b16_ep50", 100: "vit_b16_ep100", 200: "vit_b16"}[coop_epochs(dataset, shots)]


# docs/BASELINES.md, Tip-Adapter settings: (init beta, init alpha, beta max, alpha max, Tip-F epochs).
TIP_SETTINGS = {
    "ImageNet": (1.0, 1.17, 7.0, 3.0, 20),
    "Caltech101": (1.0, 3.0, 12.0, 5.0, 20),
    "OxfordPets": (1.0, 1.17, 7.0, 3.0, 20),
    "StanfordCars": (1.0, 3.0, 20.0, 10.0, 20),
    "OxfordFlowers": (1.0, 10.0, 50.0, 50.0, 20),
    "Food101": (1.0, 1.17, 10.0, 10.0, 20),
    "FGVCAircraft": (1.0, 5.0, 30.0, 30.0, 20),
    "SUN397": (1.0, 1.17, 12.0, 10.0, 20),
    "DescribableTextures": (1.0, 2.0, 13.0, 13.0, 20),
    "EuroSAT": (1.0, 2.0, 12.0, 10.0, 100),
    "UCF101": (1.0, 3.0, 7.0, 3.0, 20),
}
# The row used for a dataset not in TIP_SETTINGS (Digits, ...): Tip-Adapter's own defaults.
TIP_SETTINGS_DEFAULT = (1.0, 1.0, 7.0, 3.0, 20)
