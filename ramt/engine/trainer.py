"""Trainer base classes with Dassl's life cycle (build_model / forward_backward / model_inference)."""

from __future__ import annotations

import datetime
import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import yaml
from tqdm import tqdm

from ramt import record
from ramt.data.manager import DataManager, build_dataset
from ramt.engine.checkpoint import (
    ResumeCadence,
    has_resume_state,
    load_checkpoint,
    pointed_checkpoint,
    read_resume_state,
    remove_resume_state,
    save_checkpoint,
    write_resume_state,
)
from ramt.engine.evaluator import build_evaluator
from ramt.engine.tensorboard import TensorBoardLog
from ramt.utils.logformat import END_SIGNAL
from ramt.utils.meters import AverageMeter, MetricMeter
from ramt.utils.seed import get_rng_state, set_rng_state

RESULTS_FILE = record.RESULTS_FILE


def cfg_to_dict(cfg) -> dict:
    """A plain nested dict of a yacs config (tuples become lists)."""
    return yaml.safe_load(cfg.dump())


class TrainerBase:
    """Model registry, checkpointing and the epoch loop."""

    def __init__(self) -> None:
        self._models: OrderedDict[str, nn.Module] = OrderedDict()
        self._optims: OrderedDict[str, Optional[torch.optim.Optimizer]] = OrderedDict()
        self._scheds: OrderedDict[str, object] = OrderedDict()
        self.resume_saved_epoch = 0  # the epoch whose resume state is on disk (0: none)
        self.resume_cadence = ResumeCadence()

    # ------------------------------------------------------------ registry
    def register_model(self, name: str = "model", model=None, optim=None, sched=None) -> None:
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if name in self._models:
            raise KeyError(f"A model named '{name}' is already registered")
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None) -> list[str]:
        names_real = list(self._models.keys())
        if names is None:
            return names_real
        names = [names] if isinstance(names, str) else names
        for n in names:
            if n not in names_real:
                raise KeyError(f"No registered model named '{n}'; registered: {names_real}")
        return names

    # ---------------------------------------------------------- checkpoints
    def checkpoint_state(self, name: str) -> dict:
        """The artefact saved for model ``name`` (trainers may store something more compact)."""
        optim, sched = self._optims[name], self._scheds[name]
        return {
            "state_dict": self._models[name].state_dict(),
            "optimizer": optim.state_dict() if optim is not None else None,
            "scheduler": sched.state_dict() if sched is not None else None,
        }

    def load_checkpoint_state(self, name: str, checkpoint: dict) -> None:
        """Restore model ``name`` from an artefact written by :meth:`checkpoint_state`."""
        self._models[name].load_state_dict(checkpoint["state_dict"])

    def save_model(
        self, epoch: int, directory: str, is_best: bool = False, val_result=None, model_name: str = ""
    ) -> None:
        for name in self.get_model_names():
            state = self.checkpoint_state(name)
            state.update(epoch=epoch + 1, val_result=val_result)
            save_checkpoint(state, os.path.join(directory, name), model_name=model_name, is_best=is_best)

    def save_resume_state(self, epoch: int, directory: str) -> None:
        """Write the full training state (real-valued weights, optimisers, schedulers, RNG) atomically.

        The previous state is kept as ``resume.pth.tar.prev``, the fallback for a damaged latest file.
        """
        started = time.monotonic()
        state = {"epoch": epoch + 1, "rng": get_rng_state(), "models": {}}
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state["models"][name] = {
                "state_dict": self._models[name].state_dict(),
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
            }
        path = write_resume_state(state, directory)
        self.resume_saved_epoch = epoch + 1
        self.resume_cadence.saved(started)
        print(f"Resume state saved to {path}")

    def resume_model_if_exist(self, directory: str) -> int:
        """Continue from the resume state or a finished run's final checkpoints; return the start epoch."""
        names = self.get_model_names()
        if has_resume_state(directory):
            print(f"Found checkpoint at {directory} (will resume training)")
            state = read_resume_state(directory, names)
            if state is not None:
                for name in names:
                    entry = state["models"][name]
                    self._models[name].load_state_dict(entry["state_dict"])
                    print("Loaded model weights")
                    if entry["optimizer"] is not None and self._optims[name] is not None:
                        self._optims[name].load_state_dict(entry["optimizer"])
                        print("Loaded optimizer")
                    if entry["scheduler"] is not None and self._scheds[name] is not None:
                        self._scheds[name].load_state_dict(entry["scheduler"])
                        print("Loaded scheduler")
                set_rng_state(state["rng"])
                print(f"Previous epoch: {state['epoch']}")
                self.resume_saved_epoch = int(state["epoch"])
                return int(state["epoch"])
        finals = [pointed_checkpoint(os.path.join(directory, n)) for n in names]
        if names and all(finals):
            states = [load_checkpoint(p) for p in finals]
            if all(int(s["epoch"]) >= self.max_epoch for s in states):
                print(f"Found checkpoint at {directory} (training already finished)")
                for name, path, state in zip(names, finals, states):
                    print(f'Loading checkpoint from "{path}"')
                    self.load_checkpoint_state(name, state)
                    print("Loaded model weights")
                print(f"Previous epoch: {states[0]['epoch']}")
                return self.max_epoch
        print("No checkpoint found, train from scratch")
        return 0

    def load_model(self, directory: Optional[str], epoch: Optional[int] = None) -> None:
        """Load artefacts for evaluation: model-best if present, else the pointer (or ``epoch``)."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            model_dir = os.path.join(directory, name)
            if epoch is not None:
                path = os.path.join(model_dir, f"model.pth.tar-{epoch}")
            elif os.path.isfile(os.path.join(model_dir, "model-best.pth.tar")):
                path = os.path.join(model_dir, "model-best.pth.tar")
            else:
                path = pointed_checkpoint(model_dir)
                if path is None:
                    raise FileNotFoundError(
                        f'No checkpoint for "{name}" in "{model_dir}" (no "checkpoint" pointer file). '
                        "Point --model-dir at a finished run folder or pass --load-epoch N."
                    )
            checkpoint = load_checkpoint(path)
            print(f'Loading weights to {name} from "{path}" (epoch = {checkpoint["epoch"]})')
            self.load_checkpoint_state(name, checkpoint)

    # ------------------------------------------------------------- helpers
    def set_model_mode(self, mode: str = "train", names=None) -> None:
        for name in self.get_model_names(names):
            self._models[name].train(mode == "train")

    def update_lr(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def get_current_lr(self, names=None) -> float:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                return self._optims[name].param_groups[0]["lr"]
        return 0.0

    def detect_anomaly(self, loss: torch.Tensor, what: str = "Loss") -> None:
        if not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"{what} is infinite or NaN! (epoch {self.epoch + 1}, batch {getattr(self, 'batch_idx', -1) + 1}). "
                "The run is stopped; no final checkpoint or result was written. Lower OPTIM.LR or check the data."
            )

    def model_zero_grad(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad(set_to_none=True)

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names=None) -> None:
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

    def scaled_backward_and_update(self, loss: torch.Tensor, scaler, names=None) -> None:
        """The same step under mixed precision: the loss scaled by ``scaler`` (a ``GradScaler``)."""
        self.model_zero_grad(names)
        self.detect_anomaly(loss)
        scaler.scale(loss).backward()
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                scaler.step(self._optims[name])
        scaler.update()

    # ---------------------------------------------------------------- loop
    def train(self, start_epoch: int, max_epoch: int) -> None:
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for epoch in range(self.start_epoch, self.max_epoch):
            self.epoch = epoch
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.epochs_done = True  # every epoch and the final checkpoint are saved
        self.after_train()

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def run_epoch(self) -> None:
        raise NotImplementedError

    def forward_backward(self, batch) -> dict:
        raise NotImplementedError


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from the config; runs the standard hooks.

    ``dataset_config`` (the dataset yaml's stem) and ``eval_only`` are recorded in results.json.
    """

    dataset_config_name: str = ""
    eval_only: bool = False

    def __init__(self, cfg, dataset_config: str = "", eval_only: bool = False) -> None:
        super().__init__()
        self.dataset_config_name = dataset_config
        self.eval_only = bool(eval_only)
        self.check_cfg(cfg)
        use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
        self.device = torch.device("cuda") if use_cuda else torch.device("cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.extra_results: dict = {}
        self._time_start = time.time()
        self.tensorboard = TensorBoardLog.from_cfg(cfg, self.output_dir)
        # Where the run's wall time goes (results.json "timing"; benchmarks/bench_sweep.py).
        self.timing = {"setup": 0.0, "data": 0.0, "steps": 0.0, "eval": 0.0, "n_steps": 0, "n_eval_images": 0}
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -float("inf")
        self.timing["setup"] = time.time() - self._time_start

    def check_cfg(self, cfg) -> None:
        """Trainers validate their own config keys here (without changing ``cfg``)."""

    @property
    def final_model(self) -> str:
        """Which model is tested after training: ``TEST.FINAL_MODEL`` ("last_step" or "best_val")."""
        return self.cfg.TEST.FINAL_MODEL

    def train(self) -> None:  # type: ignore[override]
        super().train(self.start_epoch, self.max_epoch)

    # ---------------------------------------------------------------- data
    def build_data_loader(self) -> None:
        self.dm = DataManager(self.cfg, dataset=build_dataset(self.cfg), splits=self.image_splits())
        self.num_classes = self.dm.num_classes
        self.num_source_domains = 1
        self.lab2cname = self.dm.lab2cname

    def image_splits(self) -> tuple[str, ...]:
        """The dataset splits whose images this trainer reads (bad-image checks cover only these)."""
        return ("train_x", "val", "test")

    @property
    def train_loader_x(self):
        return self.dm.train_loader_x

    @property
    def val_loader(self):
        return self.dm.val_loader

    @property
    def test_loader(self):
        return self.dm.test_loader

    @property
    def classnames(self) -> list[str]:
        return self.dm.classnames

    def build_model(self) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------- hooks
    def before_train(self) -> None:
        directory = self.cfg.RESUME or self.output_dir
        self.start_epoch = self.resume_model_if_exist(directory)
        self.time_start = time.time()

    def after_epoch(self) -> None:
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        if do_test and self.final_model == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, is_best=True, val_result=curr_result)
        if last_epoch:
            self.save_model(self.epoch, self.output_dir)
            remove_resume_state(self.output_dir)
        elif self.resume_cadence.due(self.epoch, freq, float(self.cfg.TRAIN.RESUME_EVERY_S)):
            self.save_resume_state(self.epoch, self.output_dir)
        self.tensorboard.epoch(self)

    def after_train(self) -> None:
        print(END_SIGNAL)
        if not self.cfg.TEST.NO_TEST:
            self.deploy_final_model()
            self.test()
            self.write_results()
        self.tensorboard.close()
        print(f"Elapsed: {self.elapsed_str()}")

    def deploy_final_model(self) -> None:
        """Load the model the final test evaluates (trainers with their own selection override this)."""
        if self.final_model == "best_val":
            print("Deploy the model with the best val performance")
            self.load_model(self.output_dir)
        else:
            print("Deploy the last-epoch model")

    def elapsed_str(self) -> str:
        return str(datetime.timedelta(seconds=int(round(time.time() - self._time_start))))

    # ---------------------------------------------------------------- test
    def before_test(self, split: str) -> None:
        """Called once before evaluating a split (e.g. to compute text features once)."""

    def after_test(self, split: str) -> None:
        pass

    def predict(self, loader, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (logits, labels) per batch; frozen-encoder trainers may serve cached features."""
        for batch in tqdm(loader, desc=f"eval {split}", leave=False, dynamic_ncols=True):
            inputs, labels = self.parse_batch_test(batch)
            yield self.model_inference(inputs), labels

    @torch.no_grad()
    def test(self, split: Optional[str] = None) -> float:
        t0 = time.time()
        try:
            return self._test(split)
        finally:
            self.timing["eval"] += time.time() - t0

    def _test(self, split: Optional[str] = None) -> float:
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            loader = self.val_loader
        else:
            split = "test"
            loader = self.test_loader
        print(f"Evaluate on the *{split}* set")
        self.before_test(split)
        for logits, labels in self.predict(loader, split):
            self.evaluator.process(logits, labels)
            self.timing["n_eval_images"] += int(labels.shape[0])
        self.after_test(split)
        results = self.evaluator.evaluate()
        self.last_results = dict(results, split=split)
        self.tensorboard.test(self, split, results)
        self.report_after_test(split)
        return list(results.values())[0]

    def report_after_test(self, split: str) -> None:
        """Print extra blocks after the result (R-AMT prints its sparsity here)."""

    def backbone_record(self) -> dict:
        """``results.json``'s backbone fields (CLIP trainers record the identity of the weights)."""
        return {"backbone": self.cfg.MODEL.BACKBONE.NAME or os.path.basename(self.cfg.MODEL.BACKBONE.PATH)}

    def write_results(self) -> None:
        """Write ``results.json`` (and the test's ``predictions.npz``) atomically next to the log."""
        res = getattr(self, "last_results", None)
        if res is None:
            return
        dataset = getattr(getattr(self, "dm", None), "dataset", None)
        fingerprint = str(getattr(dataset, "split_fingerprint", "") or "")
        backbone = self.backbone_record()
        evaluator = self.evaluator
        predictions_file = None
        if getattr(evaluator, "predictions", None) is not None:
            predictions_file = self.write_predictions(
                evaluator.predictions, res["split"], fingerprint, backbone
            )
        bad_images = getattr(getattr(self, "dm", None), "bad_images", None) or []
        payload = record.build_results(
            cfg=cfg_to_dict(self.cfg),
            metrics={k: v for k, v in res.items() if k != "split"},
            split=res["split"],
            backbone=backbone,
            dataset_config=self.dataset_config_name,
            eval_only=self.eval_only,
            extras=self.extra_results,
            bad_images=list(bad_images),
            elapsed_s=time.time() - self._time_start,
            timing=self.timing,
            output_dir=self.output_dir,
            split_fingerprint=fingerprint,
            evaluation=getattr(evaluator, "details", None),
            predictions=predictions_file,
        )
        record.write_results(self.output_dir, payload)

    def write_predictions(self, preds: dict, split: str, fingerprint: str, backbone: dict) -> str:
        """``predictions.npz`` of the final evaluation (images in split order: the eval loaders are sequential)."""
        dataset = getattr(getattr(self, "dm", None), "dataset", None)
        items = getattr(dataset, split, None)
        n_split = len(items) if items is not None else len(preds["label"])
        if len(preds["label"]) != n_split:
            raise RuntimeError(
                f"ERROR: the {split} evaluation saw {len(preds['label'])} images but the {split} split has {n_split}; "
                f"per-image predictions for {self.output_dir} would not line up with the split. "
                "Report this as a bug (a trainer's predict() must yield every test image once, in order)."
            )
        ident = backbone.get("backbone_identity") or {}
        meta = {
            "dataset": self.cfg.DATASET.NAME,
            "split": split,
            "split_fingerprint": fingerprint,
            "subsample_classes": self.cfg.DATASET.SUBSAMPLE_CLASSES,
            "backbone": backbone.get("backbone", ""),
            "backbone_sha256": ident.get("sha256", ""),
            "num_classes": int(self.num_classes),
            "seed": int(self.cfg.SEED),
        }
        return record.write_predictions(
            self.output_dir, index=np.arange(len(preds["label"])), meta=meta, **preds
        )

    # -------------------------------------------------------------- batches
    def parse_batch_test(self, batch: dict):
        return batch["img"].to(self.device, non_blocking=True), batch["label"].to(
            self.device, non_blocking=True
        )

    def model_inference(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)


class TrainerX(SimpleTrainer):
    """A trainer over labelled data only (``train_loader_x``)."""

    def run_epoch(self) -> None:
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        loader = self.train_loader_x
        self.num_batches = len(loader)
        print_freq = self.cfg.TRAIN.PRINT_FREQ
        end = time.time()
        for batch_idx, batch in enumerate(loader):
            self.batch_idx = batch_idx
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            self.timing["data"] += data_time.val
            self.timing["steps"] += batch_time.val - data_time.val
            self.timing["n_steps"] += 1
            losses.update(loss_summary)
            self.tensorboard.batch(self, loss_summary)
            meet_freq = (self.batch_idx + 1) % print_freq == 0
            only_few_batches = self.num_batches < print_freq
            if meet_freq or only_few_batches:
                nb_remain = self.num_batches - self.batch_idx - 1
                nb_remain += (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = str(datetime.timedelta(seconds=int(batch_time.avg * nb_remain)))
                print(
                    f"epoch [{self.epoch + 1}/{self.max_epoch}] "
                    f"batch [{self.batch_idx + 1}/{self.num_batches}] "
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f}) "
                    f"data {data_time.val:.3f} ({data_time.avg:.3f}) "
                    f"{losses} lr {self.get_current_lr():.4e} eta {eta}"
                )
            end = time.time()

    def parse_batch_train(self, batch: dict):
        return batch["img"].to(self.device, non_blocking=True), batch["label"].to(
            self.device, non_blocking=True
        )

    def is_last_batch(self) -> bool:
        return (self.batch_idx + 1) == self.num_batches
