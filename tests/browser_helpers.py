"""Browser-test helpers: axe-core (installed from npm into tests/browser/ by scripts/bootstrap.sh --dev) run on a page."""
from pathlib import Path

AXE = Path(__file__).resolve().parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SEVERE = ("serious", "critical")


def axe_violations(page, impacts=SEVERE):
    """axe-core's violations on the page's current document with an impact in `impacts`, as
    [{"id", "impact", "help", "nodes": [(css selector, axe's summary of what to fix), …]}]."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run scripts/bootstrap.sh --dev (npm ci --prefix tests/browser)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [(", ".join(map(str, node["target"])), node.get("failureSummary", "")) for node in v["nodes"]]}
        for v in results["violations"] if v["impact"] in impacts
    ]


def horizontal_overflow(page):
    """How many CSS pixels the document is wider than the viewport (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
