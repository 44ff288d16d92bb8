"""The report's index.html rendered by headless Chromium: the leaderboard is in the DOM.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; CI installs it); skipped without.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from galaxybench.report import build_report

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _LeaderboardRows(HTMLParser):
    """Collects the cell texts of each body row of ``<table id="leaderboard">``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._in_body = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "leaderboard":
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = self._in_body = False

    def handle_data(self, data):
        if self._in_body and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# CI installs chromium and sets GALAXYBENCH_REQUIRE_BROWSER=1, so there a missing browser fails.
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("GALAXYBENCH_REQUIRE_BROWSER"),
    reason="chromium not installed (apt-get install -y chromium; CI installs it)",
)
def test_chromium_renders_the_leaderboard(tmp_path):
    assert CHROMIUM is not None, "chromium is required here (GALAXYBENCH_REQUIRE_BROWSER is set)"
    out = build_report(FIXTURE, tmp_path / "report")
    url = (out / "index.html").resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _LeaderboardRows()
    parser.feed(dom.stdout)
    board = pd.read_csv(out / "leaderboard.csv")
    from galaxybench.report.headline import row_label

    assert [row[1] for row in parser.rows] == [row_label(r) for r in board["row"]]
    assert len(re.findall(r"<img [^>]*src=\"data:image/png;base64,", dom.stdout)) >= 5

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, "--window-size=1280,800", f"--screenshot={shot}", url)
    from PIL import Image

    with Image.open(shot) as img:
        low, high = img.convert("L").getextrema()
    assert high - low > 100  # text and tables drawn, not a blank page


# Measures, in a copy of the page, where the finding and the gain column are drawn; the report
# itself carries no script, so the probe is added to a copy only.
_PROBE = """<script>
window.addEventListener("load", () => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom].map(Math.round).join(","); };
  const finding = document.querySelector("p.finding");
  const gain = [...document.querySelectorAll("#leaderboard th")]
    .find((th) => th.textContent.startsWith("\u0394"));
  const ci = [...document.querySelectorAll("#leaderboard th")]
    .find((th) => th.textContent.includes("t-CI"));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = `finding=${box(finding)};gain=${box(gain)};ci=${box(ci)};` +
    `width=${document.documentElement.scrollWidth}`;
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("GALAXYBENCH_REQUIRE_BROWSER"),
    reason="chromium not installed (apt-get install -y chromium; CI installs it)",
)
def test_finding_and_gain_column_are_on_the_first_screen(tmp_path):
    assert CHROMIUM is not None, "chromium is required here (GALAXYBENCH_REQUIRE_BROWSER is set)"
    out = build_report(FIXTURE, tmp_path / "report")
    probe = tmp_path / "probe.html"
    probe.write_text((out / "index.html").read_text().replace("</body>", _PROBE + "</body>"))
    dom = _chromium(
        tmp_path,
        "--window-size=1280,800",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r"finding=([\d,-]+);gain=([\d,-]+);ci=([\d,-]+);width=(\d+)", dom.stdout)
    assert found, dom.stdout[-2000:]
    for name, text in zip(("finding", "gain", "ci"), found.groups()[:3], strict=True):
        left, top, right, bottom = (int(v) for v in text.split(","))
        assert left >= 0 and right <= 1280 and top >= 0 and bottom <= 800, (name, text)
    assert int(found.group(4)) <= 1280  # no sideways scroll of the page
