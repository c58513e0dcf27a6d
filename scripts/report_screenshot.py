"""Take a PNG screenshot of the Snakemake HTML report with one of its figures on show.

Usage: python scripts/report_screenshot.py REPORT_HTML OUT_PNG [--width 1400] [--height 900]
           [--category Sphere] [--subcategory constant] [--result "learning curves"]

The report (Snakemake 9) is a single-page React app with no URL state: opened as it is, it shows
only its landing page (the rule graph). So the script copies the report to a temporary file with a
small script added that clicks, as a reader would, the category ("Sphere"), a subcategory,
the view button of the result whose row has the given text, and then "Results" in the breadcrumbs,
so that the menu lists every category next to the figure. Headless Chromium renders that copy
twice: once to dump the DOM, to check that the click-through got there, and once for the PNG.
If it did not, the screenshot is still written, but the script warns and exits with status 1.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

# Headless Chromium lays the page out in a viewport shorter than --window-size (it subtracts
# window decorations) but screenshots the full size: pin the app's 100vh panels to that height.
# The menu animates its width when it changes; without transitions the result does not depend on
# when the screenshot is taken.
# Menu items are found by their visible text, not by index or class, so that a change of layout
# in a later Snakemake fails at a named step instead of clicking something else.
CLICK_THROUGH = """
<style>.h-screen { height: %(height)dpx !important; } * { transition: none !important; }</style>
<script>
(function () {
  const CATEGORY = %(category)s, SUBCATEGORY = %(subcategory)s, RESULT = %(result)s;
  const link = (text) => [...document.querySelectorAll("nav a")]
    .find((a) => a.textContent.trim() === text);
  // An image, or an HTML result (a table), which the report shows in an iframe.
  const figure = () => document.querySelector("img[src^='data:image']:not(nav img), iframe");
  const steps = [
    ["category " + CATEGORY, () => link(CATEGORY)],
    // A category with a single subcategory opens its results table directly.
    ["subcategory", () => document.querySelector("nav tbody")
      || link(SUBCATEGORY || Object.keys(categories[CATEGORY] || {}).sort()[0])],
    ["result " + RESULT, () => {
      const row = [...document.querySelectorAll("nav tbody tr")]
        .find((tr) => tr.textContent.includes(RESULT));
      return row && row.querySelector("a[type=button]");
    }],
    // Back up to the top menu (the figure stays) so that the screenshot lists all categories.
    ["figure", () => figure() && link("Results")],
    ["menu with the figure", () => figure() && link(CATEGORY)],
  ];
  const mark = (state) => document.documentElement.setAttribute("data-report-shot", state);
  let step = 0, tries = 0;
  // React renders asynchronously after each click: poll until the next element exists.
  (function next() {
    const el = steps[step][1]();
    if (!el) {
      if (++tries > 100) return mark("failed at " + steps[step][0]);
      return setTimeout(next, 100);
    }
    tries = 0;
    if (++step === steps.length) return mark("ok");
    if (el.tagName === "A") el.click();
    setTimeout(next, 100);
  })();
})();
</script>
"""


def find_browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    sys.exit(
        f"report_screenshot: no headless browser found (looked for {', '.join(BROWSERS)}); "
        "install one, e.g. `apt-get install chromium` on Debian/Ubuntu."
    )


def run_browser(browser: str, page: Path, profile: Path, size: str, *mode: str) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    # A private profile keeps this run apart from any other Chromium on the machine.
    cmd += [f"--user-data-dir={profile}", f"--window-size={size}", "--virtual-time-budget=20000"]
    proc = subprocess.run([*cmd, *mode, page.as_uri()], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"report_screenshot: {browser} failed:\n{proc.stderr}")
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.html from `snakemake --report`")
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--category", default="Sphere")
    parser.add_argument("--subcategory", help="default: the first in alphabetical order")
    parser.add_argument("--result", default="learning curves", help="text in the result's row")
    args = parser.parse_args()

    browser = find_browser()
    html = args.report.read_text(encoding="utf-8")
    quoted = {
        name: json.dumps(getattr(args, name)) for name in ("category", "subcategory", "result")
    }
    script = CLICK_THROUGH % {**quoted, "height": args.height}
    # Inlined library code holds '</body>' in a string too; the page's own is the last one.
    cut = html.rfind("</body>")
    html = html[:cut] + script + html[cut:] if cut >= 0 else html + script
    size = f"{args.width},{args.height}"
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        dom = run_browser(browser, page, Path(tmp) / "profile", size, "--dump-dom")
        out = args.out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        run_browser(browser, page, Path(tmp) / "profile", size, f"--screenshot={out}")
    if not out.is_file():
        sys.exit(f"report_screenshot: {browser} wrote no screenshot to {out}")
    state = re.search(r'data-report-shot="([^"]*)"', dom)
    state = state[1] if state else "the click-through script did not finish"
    if state != "ok":
        sys.exit(f"report_screenshot: WARNING: no figure shown ({state}); {out} shows another view")
    print(f"report_screenshot: wrote {out}")


if __name__ == "__main__":
    main()
