"""A decoder that cannot be imported never stops the engine: the stream reads with the library's decoder."""
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
sys.modules["workers.decoder"] = None  # importing it now raises ImportError, like a broken build would
import django
django.setup()
from workers import dump, stream  # the stream reader imports without it
assert dump.fast_decoder() is None
print("library decoder in use")
"""


def test_a_broken_decoder_leaves_the_library_decoding(settings):
    settings.TOWER_FAST_DECODER = True
    from workers import dump

    assert dump.fast_decoder() is importlib.import_module("workers.decoder")
    env = {"DJANGO_SETTINGS_MODULE": "tower.settings", "TOWER_FAST_DECODER": "1", "PYTHONPATH": str(ROOT)}
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert "library decoder in use" in probe.stdout
