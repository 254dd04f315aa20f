"""Small utilities: atomic file writes (``io``), the log tee (``logger``), meters, seeding.

Import the submodules directly (``from ramt.utils.io import atomic_write_text``); this package
imports nothing eagerly so that stdlib-only users (the data layer, the scripts) stay light.
"""
