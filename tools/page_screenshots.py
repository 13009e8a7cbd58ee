"""Screenshots of the explain page (``handprop explain --html``) for docs/explain.md, taken by headless Chromium.

    python tools/page_screenshots.py runs/explain.html                 # docs/explain-page.png (1280×800)
                                                                       # and docs/explain-page-full.png
    python tools/page_screenshots.py PAGE.html --fragment 'index=149&batch=100' --out docs/explain-page

Needs Debian's ``chromium`` (``apt-get install chromium``); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHOTS = (("", (1280, 800)), ("-full", (1280, 1900)))  # the first screen, and the whole page


def screenshot(chromium: str, page: Path, fragment: str, out: Path, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", f"--screenshot={out.resolve()}",
             f"{page.resolve().as_uri()}#{fragment}"],
            check=True, capture_output=True, timeout=120,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--fragment", default="index=149&batch=100", help="the URL's #fragment (default index=149&batch=100)")
    parser.add_argument("--out", default="docs/explain-page", help="file name stem (default docs/explain-page)")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("page_screenshots: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    for suffix, size in SHOTS:
        out = Path(f"{args.out}{suffix}.png")
        screenshot(chromium, args.page, args.fragment, out, size)
        print(f"{out} ({size[0]}×{size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
