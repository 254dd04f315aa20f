"""On-disk compile caches: pointed at CACHE_DIR unless the user set the variables."""

from ramt.engine.compile_cache import enable_compile_caches


def test_defaults_under_cache_dir_and_user_values_win(tmp_path, monkeypatch):
    for key in ("TORCHINDUCTOR_CACHE_DIR", "TORCHINDUCTOR_FX_GRAPH_CACHE", "TORCHINDUCTOR_AUTOGRAD_CACHE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")
    got = enable_compile_caches(str(tmp_path))
    assert got["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "torch_compile")
    assert got["TORCHINDUCTOR_FX_GRAPH_CACHE"] == "1"
    assert got["TORCHINDUCTOR_AUTOGRAD_CACHE"] == "0"  # the user's choice is kept
