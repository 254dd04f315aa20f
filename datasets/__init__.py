"""CoOp's ``datasets/`` folder, kept for users who look for it: nothing to edit per dataset.

The dataset classes live in the installed package (``ramt/datasets/``); most are made from
their record in the dataset catalogue (``ramt/data/sources.py``). ``datasets.<RegistryName>``
returns a class, e.g. ``from datasets import DescribableTextures``. The suite itself never
imports this top-level package (a Hugging Face ``datasets`` installation cannot shadow it).
"""

from ramt.datasets import dataset_class


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return dataset_class(name)
    except ValueError as e:
        raise AttributeError(name) from e
