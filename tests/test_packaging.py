"""The wheel ships everything the server reads at run time (issue 11: `site-packages/static` missing).

`.ci/wheel-smoke` installs that wheel outside the checkout and serves the demo from it.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.wheel

SHIPPED = [
    "liveblog/static/js/liveblog.js",
    "liveblog/static/js/editor.js",
    "liveblog/static/css/liveblog.css",
    "liveblog/static/css/editor.css",
    "liveblog/static/js/docs.js",
    "liveblog/static/css/docs.css",
    "liveblog/static/vendor/swagger-ui/swagger-ui-bundle.js",
    "liveblog/static/vendor/swagger-ui/swagger-ui.css",
    "liveblog/static/vendor/swagger-ui/LICENSE",
    "liveblog/scripts.lua",
    "liveblog/locale/messages.pot",  # read by nothing at run time, shipped for translators
    "liveblog/locale/uk/LC_MESSAGES/messages.po",
    "liveblog/locale/ar/LC_MESSAGES/messages.po",
    "liveblog/static/js/strings.js",
    "workers/__init__.py",
    "workers/scheduler.py",
    "workers/feeds.py",
    "workers/webhooks.py",
    *(f"liveblog/templates/{path.name}" for path in sorted((ROOT / "liveblog/templates").glob("*.html"))),
]


@pytest.mark.timeout(180)
def test_the_wheel_ships_static_files_templates_and_lua_scripts(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=170,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("liveblog-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert len(SHIPPED) > 10
    assert [path for path in SHIPPED if path not in names] == []
    assert not any(name.startswith("static/") for name in names), "static/ belongs under liveblog/"
