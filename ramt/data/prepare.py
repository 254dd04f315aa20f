"""Download, arrange and verify the datasets: ``python -m ramt.data.prepare DATASET|all``.

Prepare = download -> extract -> arrange into the layout the readers expect -> fetch the
split JSON / class-name files -> verify. Datasets behind a licence or without a stable public
URL print their exact manual steps instead. ``--verify`` only checks an existing tree.
Run ``python -m ramt.data.prepare --help`` for every dataset's sources; see docs/DATASETS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ramt.catalogue import CATALOGUE, DatasetSource, Expected, Resource, get_source

from .download import ArchiveError, DownloadError, extract, fetch, move_into
from .verify import Report, verify_dataset

__all__ = ["Outcome", "PrepareError", "build_parser", "describe_catalogue", "main", "prepare_dataset"]

DOWNLOAD_DIRNAME = ".ramt-downloads"
STAGING_DIRNAME = ".ramt-staging"

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_MANUAL = 3


class PrepareError(RuntimeError):
    """An archive did not have the expected content, or the tree cannot be written."""


@dataclass
class Outcome:
    name: str
    status: str  # "ok" (already there), "prepared", "manual" (steps printed), "failed", "missing"
    report: Optional[Report] = None
    messages: list[str] = field(default_factory=list)

    @property
    def good(self) -> bool:
        return self.status in ("ok", "prepared")


def default_root() -> str:
    return os.environ.get("DATA") or "./data"


# --------------------------------------------------------------------------- help text


def _fill(text: str, width: int, initial_indent: str, subsequent_indent: str) -> str:
    return textwrap.fill(
        text,
        width=width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _resource_line(res: Resource) -> str:
    what = res.description or res.filename
    return f"{res.filename} ({what}): {res.origin}"


def manual_steps_text(src: DatasetSource, indent: str = "  ") -> str:
    lines = []
    for i, step in enumerate(src.manual_steps, 1):
        lines.append(_fill(step, width=96, initial_indent=f"{indent}{i}. ", subsequent_indent=indent + "   "))
    return "\n".join(lines)


def describe_catalogue() -> str:
    """Per-dataset sources and manual steps, for ``--help`` (generated from the catalogue)."""
    out = ["datasets (config name -> folder under --root):", ""]
    for src in CATALOGUE.values():
        if src.layout == "generated":
            out.append(f"{src.name} -> $DATA/{src.folder}/  [generated]  {src.title}")
            out.append("    generated on first use by the suite; nothing to download or prepare.")
            out.append("")
            continue
        mode = "MANUAL (images must be fetched by hand)" if src.manual else "automatic"
        out.append(f"{src.name} -> $DATA/{src.folder}/  [{mode}]  {src.title}")
        if src.split_file:
            out.append(f"    split: {src.split_file} (image prefix {src.image_prefix or '.'}/)")
        elif src.layout == "fgvc":
            out.append("    split: official list files images_variant_{train,val,test}.txt")
        else:
            out.append(f"    split: folder scan of {src.image_prefix}/ (+ classnames.txt)")
        for res in src.resources:
            tag = "auto" if src.manual else "source"
            out.append(
                _fill(
                    _resource_line(res),
                    width=100,
                    initial_indent=f"    {tag}: ",
                    subsequent_indent="        ",
                )
            )
        if src.manual:
            out.append("    manual steps:")
            out.append(manual_steps_text(src, indent="      "))
        for note in src.notes:
            out.append(_fill(note, width=100, initial_indent="    note: ", subsequent_indent="        "))
        out.append("")
    out += [
        "Google-Drive files: https://drive.google.com/file/d/<id>/view (downloaded with gdown).",
        "Mirrors (--mirror / RAMT_DOWNLOAD_MIRROR) serve every file under its file name and must deliver",
        "byte-identical files. Files already in the download folder are used as they are, so an archive",
        "fetched by hand can be dropped there. Interrupted downloads resume on the next run.",
        "",
        "exit status: 0 all requested datasets are in place (manual datasets reached through 'all' only",
        "print their steps); 1 a dataset failed or --verify found problems; 3 a manual dataset named",
        "explicitly is not in place yet (its steps were printed).",
        "Splits are never regenerated: the published CoOp split files are downloaded as they are.",
    ]
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ramt.data.prepare",
        description=(
            "Download, extract and arrange the R-AMT/CoOp datasets under a data root, fetch their split "
            "files and verify them. With --verify, only check an existing tree."
        ),
        epilog=describe_catalogue(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("datasets", nargs="+", metavar="DATASET", help=f"'all' or any of: {', '.join(CATALOGUE)}")
    p.add_argument("--root", default=None, help="data root $DATA (default: env DATA, else ./data)")
    p.add_argument("--verify", action="store_true", help="only verify the existing tree, download nothing")
    p.add_argument(
        "--force", action="store_true", help="delete an existing incomplete/broken dataset folder and redo it"
    )
    p.add_argument("--keep-archives", action="store_true", help="keep downloaded archives after extraction")
    p.add_argument(
        "--mirror",
        default=None,
        help="base URL serving every file by name (default: env RAMT_DOWNLOAD_MIRROR)",
    )
    p.add_argument(
        "--download-dir",
        default=None,
        help=f"where archives are downloaded (default: $DATA/{DOWNLOAD_DIRNAME})",
    )
    p.add_argument(
        "--splits-dir",
        default=None,
        help="folder with split_zhou_*.json / classnames.txt / cat_to_name.json to use instead of downloading",
    )
    p.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="check readability of only N random images per split (default: every image)",
    )
    p.add_argument("--max-problems", type=int, default=10, help="problems listed per dataset (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


# --------------------------------------------------------------------------- preparing


def _local_copy(res: Resource, root: Path, splits_dir: Optional[Path], src: DatasetSource) -> Optional[Path]:
    """A local file that can stand in for a downloadable file resource."""
    if res.kind != "file":
        return None
    if splits_dir is not None and (splits_dir / res.filename).is_file():
        return splits_dir / res.filename
    if res.filename == "classnames.txt" and src.name != "imagenet":
        cand = root / get_source("imagenet").folder / "classnames.txt"
        if cand.is_file():
            return cand
    return None


def _place_archive(res: Resource, archive: Path, folder: Path, staging: Path) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    extract(archive, staging)
    tree = staging
    entries = [e for e in tree.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name in res.unwrap:
        tree = entries[0]
    folder.mkdir(parents=True, exist_ok=True)
    for src_rel, dst_rel in res.place:
        dst = folder if dst_rel in ("", ".") else folder / dst_rel
        if src_rel == "*":
            for child in sorted(tree.iterdir()):
                move_into(child, dst / child.name)
            continue
        s = tree / src_rel
        if not s.exists():
            raise PrepareError(
                f"{archive} does not contain {src_rel}/ - is it the right file? (delete it and re-run)"
            )
        if dst is folder:
            for child in sorted(s.iterdir()):
                move_into(child, folder / child.name)
        else:
            move_into(s, dst)
    shutil.rmtree(staging, ignore_errors=True)


def _fetch_resource(
    res: Resource,
    src: DatasetSource,
    root: Path,
    folder: Path,
    download_dir: Path,
    staging: Path,
    mirror: Optional[str],
    keep_archives: bool,
    splits_dir: Optional[Path],
    progress: Optional[bool],
    log: Callable[[str], None],
) -> None:
    local = _local_copy(res, root, splits_dir, src)
    if local is not None:
        dest = folder / (res.dest or res.filename)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, dest)
        log(f"  {res.filename}: copied from {local}")
        return
    path = download_dir / res.filename
    where = "already downloaded" if path.is_file() else f"downloading from {_origin(res, mirror)}"
    log(f"  {res.filename}: {where}")
    fetch(path, url=res.url, gdrive_id=res.gdrive_id, expected_sha256=res.sha256 or None,
          expected_size=res.size, mirror=mirror, progress=progress)  # fmt: skip
    if res.kind == "file":
        dest = folder / (res.dest or res.filename)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if keep_archives:
            shutil.copyfile(path, dest)
        else:
            move_into(path, dest)
        return
    log(f"  {res.filename}: extracting")
    _place_archive(res, path, folder, staging)
    if res.target and not (folder / res.target).exists():
        raise PrepareError(
            f"after extracting {path}, {folder / res.target} is missing - is it the right archive?"
        )
    if not keep_archives:
        path.unlink(missing_ok=True)


def _origin(res: Resource, mirror: Optional[str]) -> str:
    from .download import resolve_mirror

    return resolve_mirror(res.filename, mirror) or res.origin


def _missing_resources(src: DatasetSource, folder: Path) -> list[Resource]:
    return [r for r in src.resources if not r.target or not (folder / r.target).exists()]


def _cleanup_empty(*dirs: Path) -> None:
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            pass


def prepare_dataset(
    src: DatasetSource | str,
    root: str | os.PathLike,
    *,
    mirror: Optional[str] = None,
    download_dir: Optional[str | os.PathLike] = None,
    keep_archives: bool = False,
    force: bool = False,
    splits_dir: Optional[str | os.PathLike] = None,
    full: bool = True,
    sample: int = 50,
    expected: Optional[Expected] = None,
    progress: Optional[bool] = None,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Prepare one dataset under ``root`` and verify it; never raises for expected failures."""
    src = get_source(src) if isinstance(src, str) else src
    root = Path(root)
    out = Outcome(src.name, "failed")

    def say(msg: str) -> None:
        out.messages.append(msg)
        log(msg)

    if src.layout == "generated":
        say(f"{src.name}: generated locally by the suite on first use; nothing to prepare.")
        out.status = "ok"
        return out

    def check() -> Report:
        return verify_dataset(src, root, full=full, sample=sample, expected=expected)

    folder = root / src.folder
    dl_dir = Path(download_dir) if download_dir else root / DOWNLOAD_DIRNAME
    staging_root = root / STAGING_DIRNAME
    staging = staging_root / src.name
    splits = Path(splits_dir) if splits_dir else None

    todo = list(src.resources)
    if folder.exists() or folder.is_symlink():
        rep = check()
        if rep.ok and not force:
            say(f"{src.name}: already prepared in {folder}; verified OK, skipping.")
            out.status, out.report = "ok", rep
            return out
        if force:
            if folder.is_symlink():
                say(
                    f"{src.name}: {folder} is a symbolic link; --force will not delete it. Remove it yourself."
                )
                out.report = rep
                return out
            say(f"{src.name}: --force: deleting {folder} and preparing it again.")
            shutil.rmtree(folder)
        else:
            todo = _missing_resources(src, folder)
            if not todo and not src.manual:
                say(rep.format())
                say(
                    f"{src.name}: {folder} exists but does not verify (problems above). Fix them, or re-run "
                    f"with --force to delete {folder} and prepare it again."
                )
                out.report = rep
                return out
            if todo and not src.manual:
                say(f"{src.name}: {folder} is incomplete; fetching: {', '.join(r.filename for r in todo)}")

    if src.manual:
        # fetch the automatic bits (classnames.txt), then give the manual steps.
        say(f"{src.name}: manual dataset ({src.title}); checking {folder}")
        for res in _missing_resources(src, folder):
            try:
                _fetch_resource(
                    res, src, root, folder, dl_dir, staging, mirror, keep_archives, splits, progress, say
                )
            except (DownloadError, ArchiveError, PrepareError, OSError) as e:
                say(f"  warning: could not fetch {res.filename}: {e}")
        rep = check()
        out.report = rep
        if rep.ok:
            say(f"{src.name}: in place and verified OK.")
            out.status = "ok"
            return out
        say(f"{src.name}: MANUAL dataset ({src.title}). Steps:")
        say(manual_steps_text(src))
        if not rep.missing_folder:
            say(rep.format())
        out.status = "manual"
        _cleanup_empty(dl_dir, staging_root)
        return out

    say(f"{src.name}: preparing {folder}")
    try:
        for res in todo:
            _fetch_resource(
                res, src, root, folder, dl_dir, staging, mirror, keep_archives, splits, progress, say
            )
    except (DownloadError, ArchiveError, PrepareError, OSError) as e:
        say(f"{src.name}: FAILED: {e}")
        shutil.rmtree(staging, ignore_errors=True)
        _cleanup_empty(staging_root)
        return out
    _cleanup_empty(dl_dir, staging_root)
    rep = check()
    out.report = rep
    say(rep.format())
    if rep.ok:
        out.status = "prepared"
    else:
        say(
            f"{src.name}: prepared files do not verify; see the problems above (re-run with --force to redo)."
        )
    return out


# --------------------------------------------------------------------------- CLI


def _resolve_names(names: Sequence[str], parser: argparse.ArgumentParser) -> tuple[list[str], bool]:
    if any(n.lower() == "all" for n in names):
        return list(CATALOGUE), False
    out = []
    for n in names:
        try:
            name = get_source(n).name
        except KeyError as e:
            parser.error(str(e.args[0]))
        if name not in out:
            out.append(name)
    return out, True


def _verify_only(names, explicit, root: Path, args, log) -> int:
    """Verify every requested dataset (``all`` requests all of them); a missing one is a problem."""
    full = args.sample is None
    sample = args.sample or 0
    missing, broken = [], []
    for name in names:
        rep = verify_dataset(name, root, full=full, sample=sample)
        if rep.missing_folder:
            missing.append(name)
            if not explicit:
                log(f"[!!]   {name}: not present ({rep.folder})")
                continue
        log(rep.format(args.max_problems))
        if not rep.ok and not rep.missing_folder:
            broken.append(name)
    log(
        f"verify: {len(names)} dataset(s) checked under {root}, {len(missing)} missing, "
        f"{len(broken)} with problems"
    )
    if missing:
        log(f"missing: {', '.join(missing)} (prepare them with `python -m ramt.data.prepare NAME`)")
    if broken:
        log(f"with problems: {', '.join(broken)} (see above)")
    return EXIT_PROBLEMS if missing or broken else EXIT_OK


def main(argv: Optional[Sequence[str]] = None, log: Callable[[str], None] = print) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names, explicit = _resolve_names(args.datasets, parser)
    root = Path(args.root or default_root()).expanduser()
    if args.verify:
        return _verify_only(names, explicit, root, args, log)
    outcomes = []
    for name in names:
        outcomes.append(
            prepare_dataset(
                name,
                root,
                mirror=args.mirror,
                download_dir=args.download_dir,
                keep_archives=args.keep_archives,
                force=args.force,
                splits_dir=args.splits_dir,
                full=args.sample is None,
                sample=args.sample or 0,
                progress=False if args.no_progress else None,
                log=log,
            )
        )
    log("")
    log("summary:")
    for o in outcomes:
        log(f"  {o.name:16s} {o.status}")
    if any(o.status == "failed" for o in outcomes):
        return EXIT_PROBLEMS
    if explicit and any(o.status == "manual" for o in outcomes):
        return EXIT_MANUAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
