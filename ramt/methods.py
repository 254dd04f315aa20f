"""The method registry (one entry per method) and the dataset names shared by the reporting tools.

Every method is one :class:`Method` entry: its trainers, its table label(s) (including the mask
variant of the R-AMT combinations), the published rows it is compared with, its runner script, its
stage in the sweep, the finished run it reuses and its default config. ``method_label``,
``METHOD_ORDER``, ``PUBLISHED_NAME``, the sweep's method list and the report all derive from it.
A new method registers its entry with :func:`register_method` next to its trainer class (see
docs/ARCHITECTURE.md); methods outside the package are loaded by :func:`load_plugins` from the
``RAMT_PLUGINS`` environment variable. The dataset helpers translate between registry names,
config names and the names the paper prints.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from ramt.catalogue import CATALOGUE, grid_datasets
from ramt.clip.backbones import DEFAULT_BACKBONE
from ramt.method_runs import (
    BASE2NEW_SHOTS,
    Run,
    RunRequest,
    amt_runs,
    base2new_runs,
    combination_runs,
    coop_runs,
    default_runs,
    evaluation_runs,
    ramt_runs,
    tip_runs,
    zero_shot_runs,
)

__all__ = [
    "FAMILY_COLOURS",
    "METHOD_REGISTRY",
    "Method",
    "Run",
    "RunRequest",
    "family_colour",
    "method_for_label",
    "load_plugins",
    "method_for_trainer",
    "register_combination",
    "register_method",
    "combination_method",
    "COMBINED_HOSTS",
    "PluginError",
    "registered_methods",
    "with_masks",
    "COMPARABLE_BACKBONE",
    "DATASET_CONFIG_TO_REGISTRY",
    "DG_TARGETS",
    "FEWSHOT_DATASETS",
    "METHOD_ORDER",
    "PAPER_DATASETS",
    "PUBLISHED_NAME",
    "cfg_get",
    "dataset_config_name",
    "mask_variant",
    "method_label",
    "paper_dataset_name",
]

# The 11 few-shot datasets by config name (the yaml stem used in output folders), paper order:
# the catalogue's records with grid "fewshot".
FEWSHOT_DATASETS: tuple[str, ...] = tuple(s.name for s in grid_datasets("fewshot"))

# Config name -> registry name, from the one dataset catalogue (stdlib only, cheap to import).
DATASET_CONFIG_TO_REGISTRY: dict[str, str] = {name: src.registry for name, src in CATALOGUE.items()}
_REGISTRY_TO_CONFIG = {v: k for k, v in DATASET_CONFIG_TO_REGISTRY.items()}

# Registry name -> the name the paper prints, where they differ (from the dataset records).
_PAPER_NAME = {src.registry: src.display_name for src in CATALOGUE.values() if src.paper_name}

# Paper names of the 11 few-shot datasets, in the paper's column order.
PAPER_DATASETS: tuple[str, ...] = tuple(
    _PAPER_NAME.get(DATASET_CONFIG_TO_REGISTRY[c], DATASET_CONFIG_TO_REGISTRY[c]) for c in FEWSHOT_DATASETS
)
# Domain-generalisation targets (paper names), in table order.
DG_TARGETS: tuple[str, ...] = tuple(s.display_name for s in grid_datasets("dg_target"))

# The backbone of every published number.
COMPARABLE_BACKBONE = DEFAULT_BACKBONE


def cfg_get(cfg: Mapping[str, Any] | None, dotted: str, default: Any = None) -> Any:
    """``cfg_get(cfg, "MASK.GDR")``: walk a nested mapping by a dotted key, ``default`` if absent."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _layers(value: Any) -> set[str]:
    """Normalise MASK.LAYERS (tuple, list, or a string such as ``"attn,conv1"``) to a set."""
    if value is None:
        return {"attn", "conv1"}
    if isinstance(value, str):
        cleaned = value
        for ch in "()[]'\"":
            cleaned = cleaned.replace(ch, " ")
        parts = cleaned.replace(",", " ").replace("+", " ").split()
    else:
        parts = [str(v) for v in value]
    return {p.strip().lower() for p in parts if p.strip()}


def mask_variant(cfg: Mapping[str, Any] | None) -> str:
    """The mask method named by the MASK block: R-AMT / R-MMT / R-PMT, or AMT / MMT / PMT without GDR."""
    layers = _layers(cfg_get(cfg, "MASK.LAYERS"))
    if _as_bool(cfg_get(cfg, "MASK.MASK_MLP"), False) or "all" in layers:
        base = "PMT"
    elif "mlp" in layers and "attn" in layers:
        base = "PMT"
    elif "mlp" in layers:
        base = "MMT"
    else:
        base = "AMT"
    gdr = _as_bool(cfg_get(cfg, "MASK.GDR"), True)
    return f"R-{base}" if gdr else base


def tip_host(cfg: Mapping[str, Any] | None) -> str:
    """Tip-Adapter's label: ``Tip-Adapter-F`` with ``TRAINER.TIP.FINETUNE``, else ``Tip-Adapter``."""
    return "Tip-Adapter-F" if _as_bool(cfg_get(cfg, "TRAINER.TIP.FINETUNE"), False) else "Tip-Adapter"


Label = Callable[[Optional[Mapping[str, Any]]], str]
RunRule = Callable[["Method", RunRequest], list[Run]]

# One colour per method family: Okabe & Ito (2008), colour-blind safe; yellow is left out
# (unreadable on white). A family not listed gets a fixed colour of PALETTE from its name.
FAMILY_COLOURS: dict[str, str] = {
    "Zero-shot CLIP": "#000000",
    "CoOp": "#0072B2",
    "Tip-Adapter": "#E69F00",
    "Mask tuning": "#D55E00",
    "CoOp + mask tuning": "#56B4E9",
    "Tip-Adapter + mask tuning": "#CC79A7",
    "Linear probe": "#009E73",
    "CoCoOp": "#3969AC",
    "ProGrad": "#7F3C8D",
    "VPT-deep": "#11A579",
    "UPT": "#80BA5A",
}
PALETTE: tuple[str, ...] = ("#009E73", "#999999", "#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#80BA5A")
ROLES: tuple[str, ...] = ("zero-shot", "mask", "host", "combination")


def family_colour(family: str) -> str:
    """The colour of a method family: its entry in ``FAMILY_COLOURS``, else a palette colour fixed by its name."""
    if family in FAMILY_COLOURS:
        return FAMILY_COLOURS[family]
    return PALETTE[zlib.crc32(family.encode("utf-8")) % len(PALETTE)]


def fixed(label: str) -> Label:
    """A label that does not depend on the config."""
    return lambda cfg: label


def with_masks(host: str | Label) -> Label:
    """The label of a host + R-AMT combination: ``<host label>+<mask variant>`` (``CoOp+R-AMT``)."""
    host_label = fixed(host) if isinstance(host, str) else host
    return lambda cfg: f"{host_label(cfg)}+{mask_variant(cfg)}"


@dataclass(frozen=True)
class Method:
    """One method's metadata; everything else (labels, sweep, report) derives from it.

    - ``key``: the sweep's method name and runner folder (``scripts/<key>/main.sh``).
    - ``trainers``: the ``TRAINER.NAME`` values whose runs are this method's.
    - ``label``: the table label of a run, from its nested config (:func:`with_masks` for a
      combination); ``labels``: every label it can produce, in table order.
    - ``published``: our label -> the published table's method name it is compared with.
    - ``stage``: sweep order (0 zero-shot, 1 R-AMT, 2 host methods, 3 combinations).
    - ``reuses``: the key of the method whose finished run of the same (dataset, K, seed) this one
      reuses (the two-stage combinations reuse ``ramt``); the sweep makes it a dependency.
    - ``config``: the default trainer config (a shipped name or a path).
    - ``script``: the runner command the sweep calls with ``DATASET [K]`` (default
      ``scripts/<key>/main.sh``; a two-stage combination may use ``scripts/combination.sh <key>``).
    - ``per_shot``: False for a method run once per dataset (zero-shot CLIP).
    - ``family``: the colour family in the plots (default: the key; variants of a method share it).
    - ``host``: the key of the host method of a combination (``coop_ramt`` -> ``coop``).
    - ``run_rule``: ``rule(method, RunRequest) -> [Run]``, its run folders and train.py arguments
      (default :func:`ramt.method_runs.default_runs`:
      ``$OUTPUT/<dataset>/<TRAINER>/<config stem, vit_b16 -> tag>_<K>shots/seed<S>``).
    """

    key: str
    trainers: tuple[str, ...]
    label: Label
    labels: tuple[str, ...]
    published: Mapping[str, str] = field(default_factory=dict)
    stage: int = 2
    reuses: Optional[str] = None
    config: str = ""
    script: str = ""
    per_shot: bool = True
    family: str = ""
    host: Optional[str] = None
    run_rule: Optional[RunRule] = None

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.key)

    @property
    def role(self) -> str:
        """``zero-shot`` (stage 0), ``mask`` (R-AMT), ``combination`` (reuses R-AMT) or ``host``."""
        if self.stage == 0:
            return "zero-shot"
        if self.key == "ramt":
            return "mask"
        if self.reuses == "ramt" or self.host is not None:
            return "combination"
        return "host"

    @property
    def colour(self) -> str:
        return family_colour(self.family)

    def runs_for(self, request: RunRequest) -> list[Run]:
        """The run folders (and train.py arguments) of one (dataset, shots, seed) of this method."""
        if not request.methods:
            request = replace(request, methods=METHOD_REGISTRY)
        return (self.run_rule or default_runs)(self, request)


METHOD_REGISTRY: dict[str, Method] = {}
_DEFER_COMBINATIONS = False  # True while the shipped methods register (their combinations follow them)
_BY_TRAINER: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (re-registering the same key with the same trainers replaces it)."""
    old = METHOD_REGISTRY.get(method.key)
    if old is not None and old.trainers != method.trainers:
        raise ValueError(
            f"Method key {method.key!r} is already registered for trainers {old.trainers}; "
            f"choose another key for {method.trainers}."
        )
    for trainer in method.trainers:
        other = _BY_TRAINER.get(trainer)
        if other is not None and other.key != method.key:
            raise ValueError(f"Trainer {trainer!r} already belongs to method {other.key!r}.")
    METHOD_REGISTRY[method.key] = method
    for trainer in method.trainers:
        _BY_TRAINER[trainer] = method
    for label, name in method.published.items():
        PUBLISHED_NAME[label] = name
    combo = COMBINED_HOSTS.get(method.key)
    if combo is not None and combo not in METHOD_REGISTRY and not _DEFER_COMBINATIONS:
        register_method(combination_method(method, combo))
    return method


#: Host key -> key of its two-stage "+R-AMT" combination, registered as soon as the host is
#: (the hosts of the published table; :func:`register_combination` adds a plugin host).
COMBINED_HOSTS: dict[str, str] = {
    host: f"{host}_ramt" for host in ("linear_probe", "cocoop", "prograd", "vpt", "upt")
}

#: ``TRAINER.NAME`` suffix of a combination (``ramt.trainers.compose`` derives ``<Host>RAMT``).
COMBINATION_SUFFIX = "RAMT"


def combination_method(host: Method, key: str = "") -> Method:
    """The two-stage ``<host>+R-AMT`` entry of a host method: trainers ``<Host>RAMT`` (created on
    demand by ``ramt.trainers.compose``), the host's config and run folders under the combination's
    trainer (:func:`ramt.method_runs.combination_runs`), run by ``scripts/combination.sh``."""
    key = key or f"{host.key}_ramt"
    return Method(
        key,
        tuple(t + COMBINATION_SUFFIX for t in host.trainers),
        with_masks(host.label),
        tuple(f"{label}+R-AMT" for label in host.labels),
        stage=3,
        reuses="ramt",
        config=host.config,
        script=f"scripts/combination.sh {key}",
        per_shot=host.per_shot,
        family=f"{host.family} + mask tuning",
        host=host.key,
        run_rule=combination_runs,
    )


def register_combination(host_key: str, key: str = "") -> None:
    """Declare ``<host>+R-AMT`` for a host (shipped or plugin): registered now if the host is, else with it."""
    COMBINED_HOSTS[host_key] = key or f"{host_key}_ramt"
    host = METHOD_REGISTRY.get(host_key)
    if host is not None and COMBINED_HOSTS[host_key] not in METHOD_REGISTRY:
        register_method(combination_method(host, COMBINED_HOSTS[host_key]))


def registered_methods() -> tuple[Method, ...]:
    return tuple(METHOD_REGISTRY.values())


def method_for_trainer(trainer: str) -> Optional[Method]:
    return _BY_TRAINER.get(trainer)


def method_for_label(label: str) -> Optional[Method]:
    """The method whose labels include ``label`` (a variant row ``R-AMT (KEY=V)`` counts as ``R-AMT``)."""
    base = base_label(label)
    for method in registered_methods():
        if base in method.labels:
            return method
    return None


def base_label(label: str) -> str:
    """``R-AMT (MASK.GDR_LAMBDA=0.9)`` -> ``R-AMT``: the method label of a variant row."""
    return label.split(" (", 1)[0]


# Our label -> the method name of the published table it is compared with (filled from the
# registry; docs/BASELINES.md section 3: the published "Tip-Adapter" row is read as Tip-Adapter-F).
PUBLISHED_NAME: dict[str, str] = {}

# The shipped methods, in table order (the published table's rows; the sweep orders by stage). The
# "+R-AMT" combinations of the COMBINED_HOSTS are registered after them, in host order.
_DEFER_COMBINATIONS = True
for _m in (
    Method(
        "zsclip",
        ("ZeroshotCLIP", "ZeroshotCLIP2"),
        fixed("ZeroShotCLIP"),
        ("ZeroShotCLIP",),
        {"ZeroShotCLIP": "ZeroShotCLIP"},
        stage=0,
        config="ZeroshotCLIP/vit_b16",
        per_shot=False,
        family="Zero-shot CLIP",
        run_rule=zero_shot_runs,
    ),
    Method(
        "linear_probe",
        ("LinearProbeCLIP",),
        fixed("LinearProbeCLIP"),
        ("LinearProbeCLIP",),
        {"LinearProbeCLIP": "LinearProbeCLIP"},
        config="LinearProbeCLIP/vit_b16",
        family="Linear probe",
    ),
    Method(
        "coop",
        ("CoOp",),
        fixed("CoOp"),
        ("CoOp",),
        {"CoOp": "CoOp"},
        config="CoOp/vit_b16",
        family="CoOp",
        run_rule=coop_runs,
    ),
    Method(
        "cocoop",
        ("CoCoOp",),
        fixed("CoCoOp"),
        ("CoCoOp",),
        {},
        config="CoCoOp/vit_b16_c4_ep10_batch1_ctxv1",
        family="CoCoOp",
    ),
    Method(
        "prograd",
        ("ProGrad",),
        fixed("ProGrad"),
        ("ProGrad",),
        {"ProGrad": "ProGrad"},
        config="ProGrad/vit_b16",
        family="ProGrad",
        run_rule=coop_runs,
    ),
    Method(
        "vpt",
        ("VPT",),
        fixed("VPT-deep"),
        ("VPT-deep",),
        {"VPT-deep": "VPT-deep"},
        config="VPT/vit_b16",
        family="VPT-deep",
    ),
    Method("upt", ("UPT",), fixed("UPT"), ("UPT",), {"UPT": "UPT"}, config="UPT/vit_b16", family="UPT"),
    Method(
        "tip_adapter",
        ("TipAdapter",),
        tip_host,
        ("Tip-Adapter", "Tip-Adapter-F"),
        {"Tip-Adapter-F": "Tip-Adapter"},
        config="TipAdapter/vit_b16",
        family="Tip-Adapter",
        run_rule=tip_runs,
    ),
    Method(
        "ramt",
        ("RAMT", "MaskTuning"),
        mask_variant,
        ("AMT", "R-AMT", "MMT", "R-MMT", "PMT", "R-PMT"),
        {"R-AMT": "R-AMT", "AMT": "AMT"},
        stage=1,
        config="RAMT/vit_b16",
        family="Mask tuning",
        run_rule=ramt_runs,
    ),
    Method(
        "amt",  # R-AMT without GDR in its own folder (scripts/amt/main.sh); its runs are RAMT's
        (),
        fixed("AMT"),
        (),
        stage=1,
        config="RAMT/vit_b16",
        script="scripts/amt/main.sh",
        family="Mask tuning",
        run_rule=amt_runs,
    ),
    Method(
        "coop_ramt",
        ("CoOpRAMT",),
        with_masks("CoOp"),
        ("CoOp+R-AMT",),
        {"CoOp+R-AMT": "CoOp+R-AMT"},
        stage=3,
        reuses="ramt",
        config="CoOpRAMT/vit_b16",
        family="CoOp + mask tuning",
        host="coop",
        run_rule=coop_runs,
    ),
    Method(
        "tip_adapter_ramt",
        ("TipAdapterRAMT",),
        with_masks(tip_host),
        ("Tip-Adapter+R-AMT", "Tip-Adapter-F+R-AMT"),
        {"Tip-Adapter-F+R-AMT": "Tip-Adapter+R-AMT"},
        stage=3,
        reuses="ramt",
        config="TipAdapterRAMT/vit_b16",
        family="Tip-Adapter + mask tuning",
        host="tip_adapter",
        run_rule=tip_runs,
    ),
):
    register_method(_m)
_DEFER_COMBINATIONS = False
for _host, _combo in list(COMBINED_HOSTS.items()):
    if _host in METHOD_REGISTRY and _combo not in METHOD_REGISTRY:
        register_method(combination_method(METHOD_REGISTRY[_host], _combo))

# Row order of the tables (the shipped methods' labels); other labels follow alphabetically.
METHOD_ORDER: tuple[str, ...] = tuple(label for m in registered_methods() for label in m.labels)


def method_label(cfg: Mapping[str, Any] | None) -> str:
    """The table label of a run, from its nested config dict (keys as in the yacs config)."""
    trainer = str(cfg_get(cfg, "TRAINER.NAME", "") or "")
    method = _BY_TRAINER.get(trainer)
    if method is None:
        return trainer or "unknown"
    return method.label(cfg)


PLUGINS_ENV = "RAMT_PLUGINS"


class PluginError(ValueError):
    """A module named in ``$RAMT_PLUGINS`` cannot be imported."""


def load_plugins(spec: Optional[str] = None) -> list[str]:
    """Import the modules named in ``spec`` (default: ``$RAMT_PLUGINS``) so that they register.

    Entries are separated by ``os.pathsep`` or commas; each is a module name (``mypkg.toy_ramt``)
    or the path of a ``.py`` file. Returns the module names imported.
    """
    spec = os.environ.get(PLUGINS_ENV, "") if spec is None else spec
    names = []
    for entry in (e.strip() for e in spec.replace(",", os.pathsep).split(os.pathsep)):
        if not entry:
            continue
        if entry.endswith(".py"):
            path = os.path.abspath(os.path.expanduser(entry))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{PLUGINS_ENV}: no plugin file {path}. Fix the path or remove it.")
            name = "ramt_plugin_" + os.path.splitext(os.path.basename(path))[0]
            if name not in sys.modules:
                module_spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
        else:
            name = entry
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name is None or not (name == e.name or name.startswith(e.name + ".")):
                    raise PluginError(f"{PLUGINS_ENV}: the plugin {name!r} cannot be imported: {e}.") from e
                raise PluginError(
                    f"{PLUGINS_ENV}={spec!r} names the module {name!r}, which Python cannot find. Fix: put the "
                    "folder holding it on PYTHONPATH (or install it), give the path of a .py file instead, or "
                    f"remove it from {PLUGINS_ENV}."
                ) from None
        names.append(name)
    return names


def paper_dataset_name(name: str) -> str:
    """Registry name or config name -> the name the paper prints (``OxfordFlowers`` -> ``Flowers102``)."""
    registry = DATASET_CONFIG_TO_REGISTRY.get(name, name)
    return _PAPER_NAME.get(registry, registry)


def dataset_config_name(name: str) -> str:
    """Registry (or paper) name -> config name; unknown names are lower-cased."""
    if name in DATASET_CONFIG_TO_REGISTRY:
        return name
    if name in _REGISTRY_TO_CONFIG:
        return _REGISTRY_TO_CONFIG[name]
    for registry, paper in _PAPER_NAME.items():
        if paper == name:
            return _REGISTRY_TO_CONFIG[registry]
    return name.lower()


def method_sort_key(label: str) -> tuple[int, str]:
    """Sort key putting labels in registry order (``METHOD_ORDER`` first), unknown ones after, alphabetically."""
    order = [lab for m in registered_methods() for lab in m.labels]
    try:
        return (order.index(base_label(label)), label)
    except ValueError:
        return (len(order), label)


def dataset_sort_key(paper_name: str) -> tuple[int, str]:
    """Sort key putting the paper's datasets first (paper order), then the DG targets, then others."""
    order = PAPER_DATASETS + DG_TARGETS
    try:
        return (order.index(paper_name), paper_name)
    except ValueError:
        return (len(order), paper_name)


def run_request(method: Method, words: Sequence[str], env: Optional[Mapping[str, str]] = None) -> RunRequest:
    """``DATASET [SHOTS SEED] [KEY VALUE ...]`` of the ``run-dir``/``runs`` commands -> a RunRequest."""
    env = dict(os.environ if env is None else env)
    words = list(words)
    need = 3 if method.per_shot else 1
    if len(words) < need or (len(words) - need) % 2:
        shots = " SHOTS SEED" if method.per_shot else ""
        raise ValueError(f"usage: python -m ramt.methods run-dir {method.key} DATASET{shots} [KEY VALUE ...]")
    shots = seed = None
    if method.per_shot:
        for name, value in (("SHOTS", words[1]), ("SEED", words[2])):
            if not value.isdigit():
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        shots, seed = int(words[1]), int(words[2])
    return RunRequest(env.get("OUTPUT") or "./output", words[0], shots, seed, tuple(words[need:]), env)


def _run_line(run: Run) -> str:
    """One line of ``runs``: folder, ``--test-log`` or ``-``, the reused run or ``-``, the train.py arguments."""
    fields = [run.folder, "--test-log" if run.test_log else "-", run.source or "-", *run.args]
    bad = [f for f in fields if "\t" in f or "\n" in f or not f]
    if bad:
        raise ValueError(f"a run-folder field holds a tab, a newline or nothing: {bad[0]!r}")
    return "\t".join(fields)


def _main(argv: Optional[list[str]] = None) -> int:
    """``python -m ramt.methods show|list|info|run-dir|runs``: registry facts for the runner scripts."""
    p = argparse.ArgumentParser(
        prog="python -m ramt.methods",
        description="show KEY: '<trainer> <config>'; info KEY: family, role, colour; "
        "run-dir KEY DATASET [SHOTS SEED] [KEY VALUE ...]: the run folder(s) (OUTPUT, EXP, ... from the "
        "environment); runs ...: the same with the train.py arguments, tab-separated (for scripts/common.sh); "
        "base2new KEY train|eval DATASET SEED [KEY VALUE ...] and evaluation KEY DATASET SHOTS SEED TARGET "
        "[KEY VALUE ...]: the protocols' runs, as runs prints them",
    )
    p.add_argument("command", choices=["show", "list", "info", "run-dir", "runs", "base2new", "evaluation"])
    p.add_argument("key", nargs="?", default="")
    p.add_argument("words", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    load_plugins()
    if args.command == "list":
        print("\n".join(m.key for m in registered_methods()))
        return 0
    method = METHOD_REGISTRY.get(args.key)
    if method is None:
        known = ", ".join(METHOD_REGISTRY)
        print(
            f"ERROR: unknown method {args.key!r}; registered: {known} (plugins: ${PLUGINS_ENV})",
            file=sys.stderr,
        )
        return 2
    if args.command == "show":
        print(method.trainers[0], method.config)
        return 0
    if args.command == "info":
        print(f"key {method.key}\nfamily {method.family}\nrole {method.role}\ncolour {method.colour}")
        return 0
    try:
        if args.command == "base2new":
            phase, words = (args.words[0], args.words[1:]) if args.words else ("", [])
            if not method.per_shot:
                raise ValueError(f"{method.key} runs once per dataset: it has no base-to-new protocol")
            if len(words) < 2:
                raise ValueError(
                    f"usage: python -m ramt.methods base2new {method.key} train|eval DATASET SEED [KEY VALUE ...]"
                )
            req = run_request(method, [words[0], str(BASE2NEW_SHOTS), *words[1:]])
            runs = base2new_runs(method, replace(req, methods=METHOD_REGISTRY), phase)
        elif args.command == "evaluation":
            words = list(args.words)
            if len(words) < 4:
                raise ValueError(
                    f"usage: python -m ramt.methods evaluation {method.key} DATASET SHOTS SEED TARGET [KEY VALUE ...]"
                )
            target = words.pop(3)
            req = replace(run_request(method, words), methods=METHOD_REGISTRY)
            runs = evaluation_runs(method, req, target)
        else:
            runs = method.runs_for(run_request(method, args.words))
        lines = [r.folder if args.command == "run-dir" else _run_line(r) for r in runs]
    except ValueError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    # The registry plugins fill is that of the imported module ``ramt.methods``, not ``__main__``'s.
    from ramt.methods import _main as main  # local import: the registry of the imported module

    sys.exit(main())
