"""Name -> class registries for trainers, datasets and evaluators (Dassl style)."""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Optional


class Registry:
    """Map a name to an object; register with ``@REGISTRY.register()``.

    ``provider`` names the package whose import registers the shipped entries; it is imported on
    the first lookup, so that a lower layer (``ramt.data``) can look up classes that import it.
    """

    def __init__(self, kind: str, provider: Optional[str] = None) -> None:
        self.kind = kind
        self.provider = provider
        self._obj_map: dict[str, object] = {}
        self._resolvers: list[Callable[[str], Optional[object]]] = []

    def add_resolver(self, resolver: Callable[[str], Optional[object]]) -> None:
        """``resolver(name)`` creates (and registers) an object on demand when ``name`` is looked up."""
        if resolver not in self._resolvers:
            self._resolvers.append(resolver)

    def _load_provider(self) -> None:
        if self.provider:
            provider, self.provider = self.provider, None
            importlib.import_module(provider)  # registers the shipped entries (a plugin import)

    def _do_register(self, name: str, obj: object, force: bool = False) -> None:
        if name in self._obj_map and not force:
            raise KeyError(f"An object named '{name}' was already registered in the {self.kind} registry")
        self._obj_map[name] = obj

    def register(self, obj: object = None, name: Optional[str] = None, force: bool = False) -> Callable:
        """Register ``obj`` under its class name (or ``name``); usable as a decorator."""
        if obj is None:

            def deco(func_or_class):
                self._do_register(name or func_or_class.__name__, func_or_class, force=force)
                return func_or_class

            return deco
        self._do_register(name or obj.__name__, obj, force=force)
        return obj

    def get(self, name: str):
        if name not in self._obj_map:
            self._load_provider()
        for resolver in self._resolvers if name not in self._obj_map else ():
            if resolver(name) is not None:
                break
        if name not in self._obj_map:
            hint = difflib.get_close_matches(name, self.registered_names(), n=1, cutoff=0.3)
            hint_s = f" Do you mean [{hint[0]}]?" if hint else ""
            raise ValueError(
                f"Unknown {self.kind} '{name}'. Registered: {', '.join(self.registered_names())}.{hint_s}"
            )
        return self._obj_map[name]

    def registered_names(self) -> list[str]:
        self._load_provider()
        return sorted(self._obj_map)

    def __contains__(self, name: str) -> bool:
        if name not in self._obj_map:
            self._load_provider()
        return name in self._obj_map


TRAINER_REGISTRY = Registry("trainer")
DATASET_REGISTRY = Registry("dataset", provider="ramt.datasets")
EVALUATOR_REGISTRY = Registry("evaluator")
