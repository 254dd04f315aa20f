"""Run-folder rules: where a method's run of (dataset, shots, seed) lives and how train.py is called.

A rule is a function ``rule(method, request) -> [Run]``: one :class:`Run` per run folder the
method's runner writes for one (dataset, shots, seed) (Tip-Adapter writes two: ``tip`` and
``tipf``). The runner scripts (``python -m ramt.methods runs``), the sweep status and the report
all read the folders from here, so that bash never rebuilds a folder or a recipe name.

:func:`default_runs` serves a plain new method with no code of its own:
``$OUTPUT/<dataset>/<TRAINER>/<config stem, vit_b16 -> backbone tag>_<K>shots/seed<S>``, with
``MASK.SOURCE_RUN`` pointing at the R-AMT run of the same (dataset, K, seed) when the method
reuses ``ramt``. Stdlib only at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ramt.methods import Method

__all__ = [
    "Run",
    "folder_component",
    "RunRequest",
    "amt_runs",
    "base2new_runs",
    "combination_runs",
    "evaluation_runs",
    "coop_runs",
    "default_runs",
    "ramt_runs",
    "recipe_stem",
    "tip_runs",
    "zero_shot_runs",
]

#: The backbone part of every shipped config stem (``vit_b16_ep50``), replaced by the run's tag.
STEM_BACKBONE = "vit_b16"


def folder_component(name: str, what: str) -> str:
    """``name`` when it is one plain folder name (no ``/``, not ``.`` or ``..``), else ValueError: a run
    folder never leaves OUTPUT through a dataset or EXP name."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"{what} must be one folder name inside OUTPUT (no '/', '.' or '..'), got {name!r}")
    return name


@dataclass(frozen=True)
class RunRequest:
    """The inputs of a run-folder rule: output root, dataset (config name), shots, seed, the
    trailing ``KEY VALUE`` options and the runner's environment (``EXP``, ``NCTX``, ``VARIANTS`` ...)."""

    output: str
    dataset: str
    shots: Optional[int] = None
    seed: Optional[int] = None
    opts: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: the method registry (key -> Method), filled in by ``Method.runs_for`` (the rules of the
    #: combinations read their host's and R-AMT's rules from it, without importing ``ramt.methods``)
    methods: Mapping[str, Method] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        folder_component(self.dataset, "DATASET")

    @property
    def tag(self) -> str:
        """The backbone's folder tag (``vit_b16``, ``tiny``, ...) from the options."""
        from ramt.clip.backbones import tag_from_options  # clip sits above the registry's layer

        return tag_from_options(list(self.opts))

    def option(self, key: str, default: str = "") -> str:
        """The last value given to ``key`` among the options (``default`` when absent)."""
        value = default
        for k, v in zip(self.opts[0::2], self.opts[1::2]):
            if k == key:
                value = v
        return value

    def env_value(self, key: str, default: str = "") -> str:
        return self.env.get(key) or default

    def tagged(self, stem: str) -> str:
        """A config stem with its ``vit_b16`` part replaced by the backbone tag (the one place)."""
        return stem.replace(STEM_BACKBONE, self.tag, 1)

    def dataset_args(self) -> tuple[str, ...]:
        """CoOp's ``configs/datasets/<name>.yaml`` when shipped, else the name (a record-only dataset)."""
        from ramt.config import SHIPPED_CONFIGS  # yacs: only when a folder is asked for

        if os.path.isfile(os.path.join(SHIPPED_CONFIGS, "datasets", f"{self.dataset}.yaml")):
            return ("--dataset-config-file", f"configs/datasets/{self.dataset}.yaml")
        return ("--dataset-config-file", self.dataset)


@dataclass(frozen=True)
class Run:
    """One run folder and the train.py arguments that go before the user's options."""

    folder: str
    args: tuple[str, ...]
    test_log: bool = False  # evaluation-only log (zero-shot): finished means a test result
    source: str = ""  # the finished R-AMT run this run reuses (trained first when missing)


def recipe_stem(trainer: str, dataset: str, default: str = STEM_BACKBONE) -> str:
    """The config stem a runner uses for ``trainer`` on ``dataset`` (``ramt.config.recipe_config``)."""
    from ramt.config import recipe_config  # yacs: only when a folder is asked for

    return recipe_config(trainer, dataset, default).split("/", 1)[1]


def _shipped(trainer: str, stem: str) -> str:
    return f"configs/trainers/{trainer}/{stem}.yaml"


def _train_args(req: RunRequest, trainer: str, config: str, *opts: str) -> tuple[str, ...]:
    """``--seed S --trainer T --dataset-config-file D --config-file C OPTS... DATASET.NUM_SHOTS K``."""
    head = ("--seed", str(req.seed), "--trainer", trainer, *req.dataset_args(), "--config-file", config)
    return (*head, *opts, "DATASET.NUM_SHOTS", str(req.shots))


def _seed(req: RunRequest) -> str:
    return f"seed{req.seed}"


def _source(req: RunRequest) -> str:
    """The default-folder R-AMT run of the same (dataset, shots, seed, options) a combination reuses."""
    env = {k: v for k, v in req.env.items() if k != "EXP"}
    return req.methods["ramt"].runs_for(replace(req, env=env))[0].folder


def _source_opts(source: str) -> tuple[str, ...]:
    return ("MASK.SOURCE_RUN", source) if source else ()


def zero_shot_runs(method: Method, req: RunRequest) -> list[Run]:
    """``$OUTPUT/ZeroshotCLIP/<tag>/<dataset>`` (evaluation only, no seed level)."""
    trainer = method.trainers[0]
    args = (
        "--trainer",
        trainer,
        *req.dataset_args(),
        "--config-file",
        _shipped(trainer, STEM_BACKBONE),
        "--eval-only",
    )
    return [Run(os.path.join(req.output, trainer, req.tag, req.dataset), args, test_log=True)]


def ramt_runs(method: Method, req: RunRequest) -> list[Run]:
    """``$OUTPUT/<dataset>/RAMT/<EXP or tag_Kshots>/seed<S>`` with the dataset's own recipe if any."""
    trainer = method.trainers[0]
    stem = recipe_stem(trainer, req.dataset)
    exp = folder_component(req.env_value("EXP", f"{req.tag}_{req.shots}shots"), "EXP")
    args = _train_args(req, trainer, _shipped(trainer, stem))
    return [Run(os.path.join(req.output, req.dataset, trainer, exp, _seed(req)), args)]


def amt_runs(method: Method, req: RunRequest) -> list[Run]:
    """AMT (R-AMT with ``MASK.GDR False``) in its own folder ``RAMT/<EXP or tag_Kshots_amt>/seed<S>``,
    so that an AMT run is never taken for an R-AMT one, nor reused by the combinations."""
    ramt = req.methods["ramt"]
    env = {**req.env, "EXP": req.env_value("EXP", f"{req.tag}_{req.shots}shots_amt")}
    return [
        replace(run, args=(*run.args, "MASK.GDR", "False")) for run in ramt_runs(ramt, replace(req, env=env))
    ]


def combination_runs(method: Method, req: RunRequest) -> list[Run]:
    """A generic host + R-AMT (``ramt.methods.combination_method``): the host's own folders and
    train.py arguments with the combination's trainer (``<Host>RAMT``) in place of the host's, and
    ``MASK.SOURCE_RUN`` set to the default-folder R-AMT run of the same (dataset, K, seed)."""
    host = req.methods[method.host]
    source = _source(req) if method.per_shot else ""
    host_root = os.path.join(req.output, req.dataset, host.trainers[0])
    runs = []
    for run in host.runs_for(req):
        args = list(run.args)
        args[args.index("--trainer") + 1] = method.trainers[0]
        rel = os.path.relpath(run.folder, host_root)
        if rel.startswith(".."):
            raise ValueError(
                f"the host {host.key!r} writes {run.folder}, outside {host_root}: give {method.key!r} its own run_rule"
            )
        folder = os.path.join(req.output, req.dataset, method.trainers[0], rel)
        runs.append(Run(folder, (*args, *_source_opts(source)), run.test_log, source))
    return runs


def coop_runs(method: Method, req: RunRequest) -> list[Run]:
    """CoOp (and CoOp+R-AMT): ``<cfg>_<K>shots/nctx<N>_csc<B>_ctp<P>[_joint]/seed<S>``."""
    from ramt.catalogue import CATALOGUE  # local import: only when a folder is asked for
    from ramt.policy import coop_config_name

    trainer = method.trainers[0]
    registry = CATALOGUE[req.dataset].registry if req.dataset in CATALOGUE else req.dataset
    stem = recipe_stem(trainer, req.dataset, coop_config_name(registry, int(req.shots)))
    nctx, csc, ctp = req.env_value("NCTX", "16"), req.env_value("CSC", "False"), req.env_value("CTP", "end")
    ctx = f"nctx{nctx}_csc{csc}_ctp{ctp}"
    two_stage = method.reuses == "ramt" and req.option("COMBO.MODE", "two_stage") != "joint"
    if method.reuses == "ramt" and not two_stage:
        ctx += "_joint"
    source = _source(req) if two_stage else ""
    coop = ("TRAINER.COOP.N_CTX", nctx, "TRAINER.COOP.CSC", csc, "TRAINER.COOP.CLASS_TOKEN_POSITION", ctp)
    args = _train_args(req, trainer, _shipped(trainer, stem), *coop) + _source_opts(source)
    folder = os.path.join(req.output, req.dataset, trainer, f"{req.tagged(stem)}_{req.shots}shots", ctx)
    return [Run(os.path.join(folder, _seed(req)), args, source=source)]


def tip_runs(method: Method, req: RunRequest) -> list[Run]:
    """Tip-Adapter (and +R-AMT): ``<tag>_<K>shots/{tip,tipf}[_<PROTOCOL>]/seed<S>`` ($VARIANTS, $PROTOCOL)."""
    from ramt.tip_protocol import protocol_options, variant_folder  # local import: only for a folder

    trainer = method.trainers[0]
    stem = recipe_stem(trainer, req.dataset)
    protocol = req.env_value("PROTOCOL", "default")
    source = _source(req) if method.reuses == "ramt" else ""
    runs = []
    for variant in req.env_value("VARIANTS", "tip tipf").split():
        if variant not in ("tip", "tipf"):
            raise ValueError(f"unknown Tip-Adapter variant '{variant}' in VARIANTS (use tip or tipf)")
        finetune = variant == "tipf"
        tip = ("TRAINER.TIP.FINETUNE", str(finetune), *protocol_options(protocol, req.dataset, finetune))
        args = _train_args(req, trainer, _shipped(trainer, stem), *tip) + _source_opts(source)
        folder = os.path.join(
            req.output, req.dataset, trainer, f"{req.tag}_{req.shots}shots", variant_folder(variant, protocol)
        )
        runs.append(Run(os.path.join(folder, _seed(req)), args, source=source))
    return runs


def _config_of(method: Method, req: RunRequest) -> tuple[str, str]:
    """``(--config-file value, folder stem)`` of a method's registered config (a shipped name or a path)."""
    config = method.config or f"{method.trainers[0]}/{STEM_BACKBONE}"
    if config.endswith(".yaml") or os.path.isfile(config):
        stem = os.path.splitext(os.path.basename(config))[0]
        return config, stem
    trainer, _, stem = config.partition("/")
    stem = recipe_stem(trainer, req.dataset, stem)
    return _shipped(trainer, stem), stem


def default_runs(method: Method, req: RunRequest) -> list[Run]:
    """A plain method: ``$OUTPUT/<dataset>/<TRAINER>/<stem, vit_b16 -> tag>_<K>shots/seed<S>``."""
    trainer = method.trainers[0]
    config, stem = _config_of(method, req)
    if not method.per_shot:
        args = ("--trainer", trainer, *req.dataset_args(), "--config-file", config, "--eval-only")
        return [Run(os.path.join(req.output, trainer, req.tag, req.dataset), args, test_log=True)]
    source = _source(req) if method.reuses == "ramt" else ""
    args = _train_args(req, trainer, config) + _source_opts(source)
    folder = os.path.join(
        req.output, req.dataset, trainer, f"{req.tagged(stem)}_{req.shots}shots", _seed(req)
    )
    return [Run(folder, args, source=source)]


#: Base-to-new (CoOp/CoCoOp protocol): phase -> (folder level, DATASET.SUBSAMPLE_CLASSES).
BASE2NEW_PHASES = {"train": ("train_base", "base"), "eval": ("test_new", "new")}
BASE2NEW_SHOTS = 16


def base2new_runs(method: Method, req: RunRequest, phase: str) -> list[Run]:
    """Base-to-new, 16 shots: ``$OUTPUT/base2new/{train_base,test_new}/<dataset>/shots_16/<TRAINER>/
    <name>/seed<S>``, where ``<name>`` is the backbone tag for R-AMT and the tagged config stem for
    every other method (CoCoOp's ``vit_b16_c4_ep10_batch1_ctxv1``). ``eval`` evaluates the finished
    ``train`` run (its ``source``) on the new classes; ``$LOADEP`` picks an epoch (default: the last)."""
    if phase not in BASE2NEW_PHASES:
        raise ValueError(f"base-to-new phase must be one of {sorted(BASE2NEW_PHASES)}, got {phase!r}")
    trainer = method.trainers[0]
    config, stem = _config_of(method, req)
    leaf = req.tag if method.run_rule is ramt_runs else req.tagged(stem)

    def folder(ph: str) -> str:
        level = BASE2NEW_PHASES[ph][0]
        return os.path.join(
            req.output, "base2new", level, req.dataset, f"shots_{BASE2NEW_SHOTS}", trainer, leaf, _seed(req)
        )

    args = ("--seed", str(req.seed), "--trainer", trainer, *req.dataset_args(), "--config-file", config)
    source = ""
    if phase == "eval":
        source = folder("train")
        epoch = req.env_value("LOADEP")
        args += ("--eval-only", "--model-dir", source, *(("--load-epoch", epoch) if epoch else ()))
    args += ("DATASET.NUM_SHOTS", str(BASE2NEW_SHOTS), "DATASET.SUBSAMPLE_CLASSES", BASE2NEW_PHASES[phase][1])
    return [Run(folder(phase), args, test_log=phase == "eval", source=source)]


def evaluation_runs(method: Method, req: RunRequest, target: str) -> list[Run]:
    """A finished run of (dataset, K, seed) evaluated on ``target`` (domain generalisation):
    ``$OUTPUT/evaluation/<TRAINER>/<tag>_<K>shots/<target>/seed<S>``; ``source`` is the trained run."""
    folder_component(target, "TARGET")
    trainer = method.trainers[0]
    (trained,) = method.runs_for(replace(req, env={k: v for k, v in req.env.items() if k != "EXP"}))
    config = trained.args[trained.args.index("--config-file") + 1]
    target_args = replace(req, dataset=target).dataset_args()
    args = ("--seed", str(req.seed), "--trainer", trainer, *target_args, "--config-file", config)
    args += ("--eval-only", "--model-dir", trained.folder, "DATASET.NUM_SHOTS", str(req.shots))
    folder = os.path.join(
        req.output, "evaluation", trainer, f"{req.tag}_{req.shots}shots", target, _seed(req)
    )
    return [Run(folder, args, test_log=True, source=trained.folder)]
