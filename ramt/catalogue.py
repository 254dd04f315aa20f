"""The one record per dataset: names, layout, template and where it comes from.

One :class:`DatasetSource` per dataset config name: config name, registry name, paper display
name, folder, image prefix, split file, where the class names come from, prompt template,
expected sizes and download sources. Everything else derives from it: the readers'
``ramt.data.splits.DATASET_INFO``, the prompt templates (``ramt.clip.templates``), the report's
dataset names (``ramt.methods``), ``ramt.data.prepare`` (downloads, extractions, moves) and
``ramt.data.verify``. Nothing here touches the network or disk.

The addresses are those of CoOp's data instructions (see ``docs/DATASETS.md``).
Google-Drive files are addressed by id; a mirror (``--mirror`` / ``RAMT_DOWNLOAD_MIRROR``)
serves every resource under its ``filename``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = [
    "CATALOGUE",
    "IMAGENET_CLASSNAMES_GDRIVE_ID",
    "DatasetSource",
    "Expected",
    "Resource",
    "dataset_names",
    "get_source",
    "grid_datasets",
    "register_dataset",
    "gdrive_view_url",
]

IMAGENET_CLASSNAMES_GDRIVE_ID = "1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"


def gdrive_view_url(file_id: str) -> str:
    return f"https://drive.google.com/file/d/{file_id}/view"


@dataclass(frozen=True)
class Expected:
    """Expected sizes. ``None`` means "not applicable" (e.g. no train split)."""

    classes: int
    train: Optional[int] = None
    val: Optional[int] = None
    test: Optional[int] = None


@dataclass(frozen=True)
class Resource:
    """One downloadable file.

    filename: name of the downloaded file; also its name on a mirror.
    url / gdrive_id: where it comes from (exactly one is set).
    kind: ``"archive"`` (extracted, then placed) or ``"file"`` (copied to ``dest``).
    marker: path relative to the dataset folder whose presence means this resource is
        already in place (the step is then skipped).
    place: for archives, ``(source inside the extracted tree, destination relative to the
        dataset folder)`` pairs; source ``"*"`` means every top-level entry. A directory
        placed on ``"."`` is merged into the dataset folder.
    unwrap: if the extracted tree is a single directory with one of these names, descend
        into it first (archives packed with or without a top folder).
    dest: for files, the destination relative to the dataset folder (default: filename).
    sha256 / size: optional integrity checks of the downloaded file.
    """

    filename: str
    url: str = ""
    gdrive_id: str = ""
    kind: str = "archive"
    marker: str = ""
    place: tuple[tuple[str, str], ...] = (("*", "."),)
    unwrap: tuple[str, ...] = ()
    dest: str = ""
    sha256: str = ""
    size: Optional[int] = None
    description: str = ""

    @property
    def origin(self) -> str:
        """Human-readable origin (URL or Google-Drive page)."""
        if self.url:
            return self.url
        return f"Google Drive id {self.gdrive_id} ({gdrive_view_url(self.gdrive_id)})"

    @property
    def target(self) -> str:
        """Path (relative to the dataset folder) that shows the resource is in place."""
        if self.marker:
            return self.marker
        if self.kind == "file":
            return self.dest or self.filename
        return ""


@dataclass(frozen=True)
class DatasetSource:
    """Catalogue entry for one dataset.

    Registering a record (:func:`register_dataset`) is all a dataset in CoOp's split-file
    layout (``layout="json"``) or a test-only wnid folder (``"folder_test"``) needs: its class,
    its ``--dataset-config-file`` name and its place in the grids are derived from it.

    layout: how the readers find the split:
        ``"json"`` (``split_file`` holds train/val/test), ``"fgvc"`` (official list files),
        ``"imagenet"`` (train/val folders + classnames.txt), ``"folder_test"`` (a test-only
        folder scan; ``class_folders`` is ``"wnid"`` or ``"numeric"``), ``"generated"``.
    """

    name: str
    registry: str
    title: str
    folder: str
    image_prefix: str
    layout: str
    expected: Optional[Expected]
    split_file: str = ""
    resources: tuple[Resource, ...] = ()
    manual: bool = False
    manual_steps: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    class_folders: str = "wnid"
    needs_classnames: bool = False
    paper_name: str = ""  # the name the paper prints ("" = the registry name)
    template: str = "a photo of a {}."  # the one prompt template (docs/METHOD_SPEC.md section 8)
    # The paper's grids: "fewshot" (the 11-dataset few-shot table, in catalogue order),
    # "dg_target" (a domain-generalisation target of ImageNet), "" (neither).
    grid: str = ""

    @property
    def automatic(self) -> bool:
        return not self.manual and self.layout != "generated"

    @property
    def config_name(self) -> str:
        """The yaml stem (``configs/datasets/<config_name>.yaml``) and key of :data:`CATALOGUE`."""
        return self.name

    @property
    def display_name(self) -> str:
        """The dataset's name in the paper's tables (``Flowers102``, ``DTD``, ``ImageNet-V2``, ...)."""
        return self.paper_name or self.registry

    @property
    def test_only(self) -> bool:
        return self.layout == "folder_test"

    @property
    def split_drive_id(self) -> str:
        """Google Drive id of the split file ("" if there is none or it is not on Drive)."""
        return next(
            (r.gdrive_id for r in self.resources if self.split_file and r.filename == self.split_file), ""
        )

    @property
    def classnames_from(self) -> str:
        """Where the readers take the class names from."""
        return {
            "json": f"the split file {self.split_file}",
            "fgvc": "variants.txt (one variant per line, label = line index)",
            "imagenet": "classnames.txt ('<wnid> <name>' lines)",
            "folder_test": "classnames.txt ('<wnid> <name>' lines; ImageNet's, in sorted-wnid order)",
            "generated": "the generator",
        }[self.layout]


def _split(registry_suffix: str, gdrive_id: str, sha256: str = "") -> Resource:
    name = f"split_zhou_{registry_suffix}.json"
    return Resource(
        filename=name,
        gdrive_id=gdrive_id,
        kind="file",
        sha256=sha256,
        description="CoOp split file",
    )


_CLASSNAMES = Resource(
    filename="classnames.txt",
    gdrive_id=IMAGENET_CLASSNAMES_GDRIVE_ID,
    kind="file",
    description="CLIP's cleaned ImageNet class names (1,000 lines '<wnid> <name>')",
)

_CLASSNAMES_STEP = (
    "Put ImageNet's classnames.txt into {folder}/ (prepare downloads it automatically from "
    f"Google Drive id {IMAGENET_CLASSNAMES_GDRIVE_ID}, or copy $DATA/imagenet/classnames.txt)."
)


def _entries() -> list[DatasetSource]:
    return [
        DatasetSource(
            name="imagenet",
            grid="fewshot",
            registry="ImageNet",
            title="ImageNet (ILSVRC-2012)",
            folder="imagenet",
            image_prefix="images",
            layout="imagenet",
            expected=Expected(classes=1000, train=1_281_167, val=None, test=50_000),
            resources=(_CLASSNAMES,),
            manual=True,
            needs_classnames=True,
            manual_steps=(
                "Register at https://image-net.org/index.php and accept the ImageNet terms of access "
                "(the images cannot be downloaded automatically).",
                "Download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (ILSVRC 2012).",
                "Extract the train archive to $DATA/imagenet/images/train/<wnid>/*.JPEG (it holds one "
                "tar per wnid: extract each into a folder named after it; 1,000 folders).",
                "Extract the val archive and arrange its 50,000 images into class folders "
                "$DATA/imagenet/images/val/<wnid>/*.JPEG, using the official validation ground truth.",
                "An existing copy can be symlinked: ln -s /path/to/train $DATA/imagenet/images/train "
                "(same for val).",
                "classnames.txt: `python -m ramt.data.prepare imagenet` downloads it into "
                f"$DATA/imagenet/ (Google Drive id {IMAGENET_CLASSNAMES_GDRIVE_ID}).",
            ),
            notes=("Test = the official val set; the few-shot val is a hold-out from train.",),
        ),
        DatasetSource(
            name="caltech101",
            grid="fewshot",
            registry="Caltech101",
            title="Caltech101",
            folder="caltech-101",
            image_prefix="101_ObjectCategories",
            layout="json",
            split_file="split_zhou_Caltech101.json",
            expected=Expected(classes=100, train=4128, val=1649, test=2465),
            resources=(
                Resource(
                    filename="101_ObjectCategories.tar.gz",
                    url="http://www.vision.caltech.edu/Image_Datasets/Caltech101/101_ObjectCategories.tar.gz",
                    marker="101_ObjectCategories",
                    description="images",
                ),
                _split(
                    "Caltech101",
                    "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN",
                    sha256="43ab95e88d2f6a32a11c4f8dc9f822c534e822f3dbbde2e248af5432d771a6fc",
                ),
            ),
        ),
        DatasetSource(
            name="oxford_pets",
            grid="fewshot",
            registry="OxfordPets",
            template="a photo of a {}, a type of pet.",
            title="Oxford-IIIT Pets",
            folder="oxford_pets",
            image_prefix="images",
            layout="json",
            split_file="split_zhou_OxfordPets.json",
            expected=Expected(classes=37, train=2944, val=736, test=3669),
            resources=(
                Resource(
                    filename="images.tar.gz",
                    url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
                    marker="images",
                    description="images",
                ),
                Resource(
                    filename="annotations.tar.gz",
                    url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
                    marker="annotations",
                    description="annotations",
                ),
                _split("OxfordPets", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),
            ),
        ),
        DatasetSource(
            name="stanford_cars",
            grid="fewshot",
            registry="StanfordCars",
            title="Stanford Cars",
            folder="stanford_cars",
            image_prefix="",
            layout="json",
            split_file="split_zhou_StanfordCars.json",
            expected=Expected(classes=196, train=6509, val=1635, test=8041),
            resources=(
                Resource(
                    filename="cars_train.tgz",
                    url="http://ai.stanford.edu/~jkrause/car196/cars_train.tgz",
                    marker="cars_train",
                    description="train images",
                ),
                Resource(
                    filename="cars_test.tgz",
                    url="http://ai.stanford.edu/~jkrause/car196/cars_test.tgz",
                    marker="cars_test",
                    description="test images",
                ),
                Resource(
                    filename="car_devkit.tgz",
                    url="https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",
                    marker="devkit",
                    description="devkit with the train labels",
                ),
                Resource(
                    filename="cars_test_annos_withlabels.mat",
                    url="http://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",
                    kind="file",
                    description="test labels",
                ),
                _split("StanfordCars", "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"),
            ),
            notes=(
                "The original Stanford host is often unreachable. Use --mirror with a mirror that "
                "serves byte-identical files, or put the four files into the download folder "
                "($DATA/.ramt-downloads/) and re-run.",
            ),
        ),
        DatasetSource(
            name="oxford_flowers",
            grid="fewshot",
            registry="OxfordFlowers",
            paper_name="Flowers102",
            template="a photo of a {}, a type of flower.",
            title="Oxford Flowers 102",
            folder="oxford_flowers",
            image_prefix="jpg",
            layout="json",
            split_file="split_zhou_OxfordFlowers.json",
            expected=Expected(classes=102, train=4093, val=1633, test=2463),
            resources=(
                Resource(
                    filename="102flowers.tgz",
                    url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",
                    marker="jpg",
                    description="images",
                ),
                Resource(
                    filename="imagelabels.mat",
                    url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",
                    kind="file",
                    description="labels",
                ),
                Resource(
                    filename="cat_to_name.json",
                    gdrive_id="1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0",
                    kind="file",
                    description="class names",
                ),
                _split("OxfordFlowers", "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"),
            ),
        ),
        DatasetSource(
            name="food101",
            grid="fewshot",
            registry="Food101",
            template="a photo of {}, a type of food.",
            title="Food-101",
            folder="food-101",
            image_prefix="images",
            layout="json",
            split_file="split_zhou_Food101.json",
            expected=Expected(classes=101, train=50500, val=20200, test=30300),
            resources=(
                Resource(
                    filename="food-101.tar.gz",
                    url="https://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",
                    marker="images",
                    place=(("food-101", "."),),
                    description="images + meta (project page "
                    "https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/)",
                ),
                _split("Food101", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),
            ),
        ),
        DatasetSource(
            name="fgvc_aircraft",
            grid="fewshot",
            registry="FGVCAircraft",
            template="a photo of a {}, a type of aircraft.",
            title="FGVC-Aircraft 2013b",
            folder="fgvc_aircraft",
            image_prefix="images",
            layout="fgvc",
            expected=Expected(classes=100, train=3334, val=3333, test=3333),
            resources=(
                Resource(
                    filename="fgvc-aircraft-2013b.tar.gz",
                    url="https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
                    marker="images",
                    place=(("fgvc-aircraft-2013b/data", "."),),
                    description="images + official list files (only data/ is kept)",
                ),
            ),
            notes=("No JSON split: variants.txt and images_variant_{train,val,test}.txt are read.",),
        ),
        DatasetSource(
            name="sun397",
            grid="fewshot",
            registry="SUN397",
            title="SUN397",
            folder="sun397",
            image_prefix="SUN397",
            layout="json",
            split_file="split_zhou_SUN397.json",
            expected=Expected(classes=397, train=15880, val=3970, test=19850),
            resources=(
                Resource(
                    filename="SUN397.tar.gz",
                    url="http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",
                    marker="SUN397",
                    description="images",
                ),
                Resource(
                    filename="Partitions.zip",
                    url="https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip",
                    marker="ClassName.txt",
                    unwrap=("Partitions",),
                    description="partition lists (ClassName.txt, Training_01.txt, Testing_01.txt, ...)",
                ),
                _split("SUN397", "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"),
            ),
        ),
        DatasetSource(
            name="dtd",
            grid="fewshot",
            registry="DescribableTextures",
            paper_name="DTD",
            template="{} texture.",
            title="Describable Textures (DTD)",
            folder="dtd",
            image_prefix="images",
            layout="json",
            split_file="split_zhou_DescribableTextures.json",
            expected=Expected(classes=47, train=2820, val=1128, test=1692),
            resources=(
                Resource(
                    filename="dtd-r1.0.1.tar.gz",
                    url="https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",
                    marker="images",
                    place=(("dtd", "."),),
                    description="images, imdb, labels",
                ),
                _split("DescribableTextures", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),
            ),
        ),
        DatasetSource(
            name="eurosat",
            grid="fewshot",
            registry="EuroSAT",
            template="a centered satellite photo of {}.",
            title="EuroSAT (RGB)",
            folder="eurosat",
            image_prefix="2750",
            layout="json",
            split_file="split_zhou_EuroSAT.json",
            expected=Expected(classes=10, train=13500, val=5400, test=8100),
            resources=(
                Resource(
                    filename="EuroSAT.zip",
                    url="http://madm.dfki.de/files/sentinel/EuroSAT.zip",
                    marker="2750",
                    description="images (2750/<Class>/...)",
                ),
                _split("EuroSAT", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),
            ),
        ),
        DatasetSource(
            name="ucf101",
            grid="fewshot",
            registry="UCF101",
            template="a photo of a person doing {}.",
            title="UCF101 (middle frames)",
            folder="ucf101",
            image_prefix="UCF-101-midframes",
            layout="json",
            split_file="split_zhou_UCF101.json",
            expected=Expected(classes=101, train=7639, val=1898, test=3783),
            resources=(
                Resource(
                    filename="UCF-101-midframes.zip",
                    gdrive_id="10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O",
                    marker="UCF-101-midframes",
                    description="one middle frame per video",
                ),
                _split("UCF101", "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"),
            ),
        ),
        DatasetSource(
            name="imagenetv2",
            grid="dg_target",
            registry="ImageNetV2",
            paper_name="ImageNet-V2",
            title="ImageNet-V2 (matched frequency), test only",
            folder="imagenetv2",
            image_prefix="imagenetv2-matched-frequency-format-val",
            layout="folder_test",
            class_folders="numeric",
            expected=Expected(classes=1000, test=10_000),
            needs_classnames=True,
            resources=(
                Resource(
                    filename="imagenetv2-matched-frequency.tar.gz",
                    url="https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz",
                    marker="imagenetv2-matched-frequency-format-val",
                    description="images (project page https://github.com/modestyachts/ImageNetV2)",
                ),
                _CLASSNAMES,
            ),
        ),
        DatasetSource(
            name="imagenet_sketch",
            grid="dg_target",
            registry="ImageNetSketch",
            paper_name="ImageNet-Sketch",
            title="ImageNet-Sketch, test only",
            folder="imagenet-sketch",
            image_prefix="images",
            layout="folder_test",
            expected=Expected(classes=1000, test=50_889),
            needs_classnames=True,
            resources=(_CLASSNAMES,),
            manual=True,
            manual_steps=(
                "Open https://github.com/HaohanWang/ImageNet-Sketch and follow its download link for "
                "the full data set (ImageNet-Sketch.zip, about 8 GB; no stable direct URL).",
                "Extract it and move the folder that holds the 1,000 wnid folders (named sketch/ in the "
                "archive) to $DATA/imagenet-sketch/images/, giving images/<wnid>/*.JPEG.",
                _CLASSNAMES_STEP.format(folder="$DATA/imagenet-sketch"),
            ),
        ),
        DatasetSource(
            name="imagenet_a",
            grid="dg_target",
            registry="ImageNetA",
            paper_name="ImageNet-A",
            title="ImageNet-A (natural adversarial examples), test only",
            folder="imagenet-adversarial",
            image_prefix="imagenet-a",
            layout="folder_test",
            expected=Expected(classes=200, test=7_500),
            needs_classnames=True,
            resources=(_CLASSNAMES,),
            manual=True,
            manual_steps=(
                "Open https://github.com/hendrycks/natural-adv-examples and download the ImageNet-A "
                "archive it links (imagenet-a.tar).",
                "Extract it into $DATA/imagenet-adversarial/, giving imagenet-adversarial/imagenet-a/"
                "<wnid>/*.jpg (200 folders; README.txt is ignored).",
                _CLASSNAMES_STEP.format(folder="$DATA/imagenet-adversarial"),
            ),
        ),
        DatasetSource(
            name="imagenet_r",
            grid="dg_target",
            registry="ImageNetR",
            paper_name="ImageNet-R",
            title="ImageNet-R (renditions), test only",
            folder="imagenet-rendition",
            image_prefix="imagenet-r",
            layout="folder_test",
            expected=Expected(classes=200, test=30_000),
            needs_classnames=True,
            resources=(_CLASSNAMES,),
            manual=True,
            manual_steps=(
                "Open https://github.com/hendrycks/imagenet-r and download the ImageNet-R archive it "
                "links (imagenet-r.tar).",
                "Extract it into $DATA/imagenet-rendition/, giving imagenet-rendition/imagenet-r/"
                "<wnid>/*.jpg (200 folders; README.txt is ignored).",
                _CLASSNAMES_STEP.format(folder="$DATA/imagenet-rendition"),
            ),
        ),
        DatasetSource(
            name="digits",
            registry="Digits",
            template="a photo of the number {}.",
            title="Digits (scikit-learn's handwritten digits, generated by the suite)",
            folder="digits",
            image_prefix="images",
            layout="generated",
            split_file="split_zhou_Digits.json",
            expected=None,
            notes=(
                "Written to $DATA/digits/ on first use (images/ + split_zhou_Digits.json); nothing to download.",
            ),
        ),
    ]


LAYOUTS = ("json", "fgvc", "imagenet", "folder_test", "generated")
CATALOGUE: dict[str, DatasetSource] = {entry.name: entry for entry in _entries()}


def register_dataset(source: DatasetSource, replace: bool = False) -> DatasetSource:
    """Add a dataset record to the catalogue (a plugin's or a test's dataset); returns it."""
    taken = {s.registry.lower(): s for s in CATALOGUE.values()}
    clash = CATALOGUE.get(source.name) or taken.get(source.registry.lower())
    if clash is not None and clash != source and not replace:
        raise ValueError(
            f"Dataset record {source.name!r} ({source.registry}) clashes with the catalogue's "
            f"{clash.name!r} ({clash.registry}); choose another name or pass replace=True."
        )
    if source.layout not in LAYOUTS:
        raise ValueError(f"Dataset record {source.name!r}: layout {source.layout!r} is not one of {LAYOUTS}.")
    if source.layout == "json" and not source.split_file:
        raise ValueError(
            f"Dataset record {source.name!r}: layout 'json' needs split_file (CoOp's split JSON)."
        )
    CATALOGUE[source.name] = source
    return source


def grid_datasets(grid: str) -> list[DatasetSource]:
    """The records of one grid (``"fewshot"``, ``"dg_target"``) in catalogue order."""
    return [s for s in CATALOGUE.values() if s.grid == grid]


def dataset_names(include_generated: bool = True) -> list[str]:
    """Config names in catalogue order."""
    return [n for n, s in CATALOGUE.items() if include_generated or s.layout != "generated"]


def get_source(name: str) -> DatasetSource:
    """Look up a dataset by config name (or registry name, case-insensitive)."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    low = name.lower()
    for src in CATALOGUE.values():
        if low in (src.name, src.registry.lower()):
            return src
    raise KeyError(f"unknown dataset {name!r}; known: {', '.join(CATALOGUE)}")
