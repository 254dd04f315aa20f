import pytest

from ramt.config import ConfigError, get_cfg_default, mask_layers, merge_from_file, merge_from_list


def test_unknown_key_names_key_and_suggests(tmp_path):
    cfg = get_cfg_default()
    with pytest.raises(ConfigError, match=r"Unknown config key 'OPTIM.LRR'.*Did you mean OPTIM.LR"):
        merge_from_list(cfg, ["OPTIM.LRR", "0.1"])


def test_int_into_float_key_is_an_error_with_fix():
    cfg = get_cfg_default()
    with pytest.raises(ConfigError, match=r"MASK.GDR_LAMBDA.*expects float.*1.0"):
        merge_from_list(cfg, ["MASK.GDR_LAMBDA", "1"])


def test_literal_eval_and_list_tuple_conversion():
    cfg = get_cfg_default()
    merge_from_list(
        cfg, ["OPTIM.LR", "1e-5", "INPUT.SIZE", "[224, 224]", "MASK.GDR", "False", "OPTIM.NAME", "sgd"]
    )
    assert cfg.OPTIM.LR == 1e-5 and isinstance(cfg.OPTIM.LR, float)
    assert tuple(cfg.INPUT.SIZE) == (224, 224)
    assert cfg.MASK.GDR is False
    assert cfg.OPTIM.NAME == "sgd"


def test_odd_number_of_opts():
    with pytest.raises(ConfigError, match="KEY VALUE pairs"):
        merge_from_list(get_cfg_default(), ["OPTIM.LR"])


def test_yaml_unknown_key_names_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("OPTIM:\n  MAX_EPOCHS: 3\n")
    with pytest.raises(ConfigError, match=r"OPTIM.MAX_EPOCHS.*bad.yaml"):
        merge_from_file(get_cfg_default(), str(f))


def test_missing_yaml_names_path(tmp_path):
    with pytest.raises(ConfigError, match="Config file not found: .*nope.yaml"):
        merge_from_file(get_cfg_default(), str(tmp_path / "nope.yaml"))


def test_yaml_type_mismatch(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("OPTIM:\n  MAX_EPOCH: 2.5\n")
    with pytest.raises(ConfigError, match="OPTIM.MAX_EPOCH.*expects int"):
        merge_from_file(get_cfg_default(), str(f))


def test_mask_mlp_synonym():
    cfg = get_cfg_default()
    assert mask_layers(cfg) == ("attn", "conv1")
    merge_from_list(cfg, ["MASK.MASK_MLP", "True"])
    assert mask_layers(cfg) == ("all",)


def test_shipped_configs_merge(tmp_path):
    import glob

    files = sorted(glob.glob("configs/**/*.yaml", recursive=True))
    assert files, "no shipped configs found"
    for f in files:
        merge_from_file(get_cfg_default(), f)


def test_removed_dassl_keys_are_named_with_the_reason():
    from ramt.config import REMOVED_KEYS, ConfigError, get_cfg_default, merge_from_list

    for key in REMOVED_KEYS:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.") + r".*not supported"):
            merge_from_list(get_cfg_default(), [key, "1"])


def test_every_accepted_key_has_a_reader():
    """Every default key is read somewhere in the package (an accepted key is honoured or removed)."""
    import pathlib
    import re

    from ramt.config import _all_keys

    root = pathlib.Path(__file__).resolve().parents[1] / "ramt"
    text = "\n".join(p.read_text() for p in root.rglob("*.py") if p.name != "config.py")
    unread = [k for k in _all_keys(get_cfg_default()) if not re.search(rf"\b{k.split('.')[-1]}\b", text)]
    assert not unread, f"config keys nothing reads: {unread}"
