"""The HTML reports in a real headless Chromium, offline; the JSON report, plan and
profiles against their JSON Schemas.

Both reports also go through WebDriver (chromedriver): no console error, every <svg>
and <img> renders with a non-zero size, no resource is fetched, and a full-page
screenshot is kept (in $YIELDLAKE_ARTEFACTS, else WORK_DIR/artefacts).

For the lot report of the sample data's wafer-sort lot: the rendered yield and bin tables
have as many rows as the JSON report, the summary-check sentence gives its counts, there
is a thumbnail per wafer, nothing outside the file is referenced, and the printed PDF
holds the title, lot and sections.

For the qualification report of the sample plan: Chromium loads the file with every
host name unresolvable, and the rendered DOM must show the JSON report's verdict, each
stress's fails/SS and FIT, an SVG per drift and Weibull plot, and no reference to
anything outside the file. Chromium then prints it to PDF (the print CSS), and
pdftotext must find the report's title, verdict and every stress in it.

The PDF reports yieldlake writes itself (typst, no browser): pdftotext must find the lot
id, the final yield, the lowest Cpk and the verdict exactly as the JSON reports has them;
pdftoppm renders every page, and the page count and size (landscape A4) are as pdfinfo
says. The lot JSON validates against schemas/lot-report.json, and two runs with the same
--generated-at give the same PDF text.

usage: python report_browser.py YIELDLAKE_BIN WORK_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

failures = 0
checks = 0


def check(ok, what):
    global failures, checks
    checks += 1
    if not ok:
        failures += 1
        print(f"FAIL {what}")


class Dom(HTMLParser):
    """Collects rows by data-stress, cell classes and text, svg count, and external refs."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.cls = {}, None, None, None
        self.svgs, self.external, self.verdict, self.in_verdict = 0, [], "", False
        self.fits, self.in_fit = [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a and re.match(r"^(https?:)?//", a[k] or ""):
                self.external.append(a[k])
        if tag == "svg":
            self.svgs += 1
        if tag == "tr" and "data-stress" in a:
            self.row = a["data-stress"]
            self.rows[self.row] = {}
        if tag == "td":
            self.cls = a.get("class", "")
            self.cell = ""
            self.in_verdict = a.get("id") == "verdict"
            self.in_fit = "fit" in (a.get("class") or "").split()

    def handle_endtag(self, tag):
        if tag == "td":
            if self.row is not None and "fails" in (self.cls or "").split():
                self.rows[self.row]["fails"] = self.cell.strip()
            if self.in_fit:
                self.fits.append(self.cell.strip())
            self.cell, self.in_verdict, self.in_fit = None, False, False
        if tag == "tr":
            self.row = None

    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
        if self.in_verdict:
            self.verdict += d


class LotDom(HTMLParser):
    """Rows per table id, thumbnails, the summary-check sentence and external refs."""

    def __init__(self):
        super().__init__()
        self.table, self.rows, self.thumbs, self.external = None, {}, 0, []
        self.in_checks, self.checks = False, ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a and re.match(r"^(https?:)?//", a[k] or ""):
                self.external.append(a[k])
        if tag == "table":
            self.table = a.get("id")
            self.rows[self.table] = -1  # the header row
        if tag == "tr" and self.table is not None:
            self.rows[self.table] += 1
        if tag == "a" and (a.get("href") or "").startswith("#map-"):
            self.thumbs += 1
        if tag == "p" and a.get("id") == "checks":
            self.in_checks = True

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        if tag == "p":
            self.in_checks = False

    def handle_data(self, d):
        if self.in_checks:
            self.checks += d


def check_lot(exe, work, lake, browser, flags):
    out = os.path.join(work, "lot-report")
    subprocess.run([exe, "report", "lot", "--lake", lake, "--lot", "YL2026-01", "--out", out], check=True)
    html = os.path.join(out, "lot-YL2026-01.html")
    rep = json.load(open(os.path.join(out, "lot-YL2026-01.json")))
    sec = rep["sections"]
    check(rep["format"] == "yieldlake-lot-report/1", "lot JSON format")
    dom = subprocess.run([browser, *flags, "--dump-dom", "file://" + html], capture_output=True, text=True, timeout=120)
    check(dom.returncode == 0 and "<html" in dom.stdout, "chromium rendered the lot report")
    d = LotDom()
    d.feed(dom.stdout)
    check(d.rows.get("yields") == len(sec["yields"]), f"lot yields rows {d.rows.get('yields')} vs JSON {len(sec['yields'])}")
    check(d.rows.get("bins") == len(sec["bins"]), f"lot bins rows {d.rows.get('bins')} vs JSON {len(sec['bins'])}")
    bad = sum(1 for c in sec["summary_checks"] if not c["agrees"])
    check(d.checks.startswith(f"{len(sec['summary_checks'])} counts") and f"{bad} disagree" in d.checks, f"summary-check sentence {d.checks!r}")
    check(d.thumbs == len(sec["wafers"]) and d.thumbs > 0, f"{d.thumbs} wafer thumbnails vs {len(sec['wafers'])} wafers")
    check(not d.external, f"lot report external references: {d.external}")
    pdf = os.path.join(work, "lot.pdf")
    subprocess.run([browser, *flags, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", "file://" + html], capture_output=True, timeout=120)
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True).stdout if os.path.exists(pdf) else ""
    check("Lot verification report" in text and "YL2026-01" in text and "Provenance" in text, "printed lot PDF has its title, lot and sections")


def pdf_text(pdf):
    return subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True).stdout if os.path.exists(pdf) else ""


def check_pages(pdf, work, what):
    """pdfinfo's page count and size; pdftoppm renders each page, at that size."""
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True).stdout
    m = re.search(r"Pages:\s+(\d+)", info)
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    pages = int(m.group(1)) if m else 0
    check(pages >= 2, f"{what}: {pages} pages")
    check(size is not None and abs(float(size.group(1)) - 841.89) < 0.5 and abs(float(size.group(2)) - 595.28) < 0.5, f"{what}: page size {size.group(0) if size else '?'} (landscape A4)")
    d = os.path.join(work, "pages-" + what.replace(" ", "-"))
    os.makedirs(d, exist_ok=True)
    r = subprocess.run(["pdftoppm", "-r", "18", "-png", pdf, os.path.join(d, "p")], capture_output=True, text=True)
    pngs = sorted(f for f in os.listdir(d) if f.endswith(".png"))
    check(r.returncode == 0 and len(pngs) == pages, f"{what}: pdftoppm rendered {len(pngs)} of {pages} pages ({r.stderr[-200:]})")
    if pngs:
        w, h = png_size(os.path.join(d, pngs[0]))
        check(abs(w - 841.89 * 18 / 72) <= 2 and abs(h - 595.28 * 18 / 72) <= 2, f"{what}: page image {w}x{h}")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def check_lot_pdf(exe, work, lake, root):
    out = os.path.join(work, "lot-report")
    pdf = os.path.join(out, "lot-YL2026-01.pdf")
    rep = json.load(open(os.path.join(out, "lot-YL2026-01.json")))
    import jsonschema

    schema = json.load(open(os.path.join(root, "schemas", "lot-report.json")))
    errs = list(jsonschema.Draft202012Validator(schema).iter_errors(rep))
    check(not errs, f"the lot JSON against schemas/lot-report.json: {[e.message for e in errs[:3]]}")
    text = pdf_text(pdf)
    sec = rep["sections"]
    fy = f"final yield {100 * sec['lot_yield']['final_yield']:.2f} %"
    cpk = f"Lowest Cpk: {sec['lowest_cpk']:.4f}."
    for want in ["Lot verification report: YL2026-01", fy, cpk, "Provenance"]:
        check(want in text, f"lot PDF says {want!r}")
    check(re.search(r"Status \(SYL/SBL\)\s+" + re.escape(rep["status"]), text) is not None, f"lot PDF status is the JSON's {rep['status']}")
    check_pages(pdf, work, "lot report")
    # Same lake, same settings: the same PDF text.
    texts = []
    for k in range(2):
        o = os.path.join(work, f"lot-det-{k}")
        subprocess.run([exe, "report", "lot", "--lake", lake, "--lot", "YL2026-01", "--out", o, "--generated-at", "2026-01-01T00:00:00Z"], check=True, capture_output=True)
        texts.append(pdf_text(os.path.join(o, "lot-YL2026-01.pdf")))
    check(texts[0] == texts[1] and len(texts[0]) > 1000, "two runs give the same lot PDF text")


def in_webdriver(html, shot):
    """Loads a report in Chromium through WebDriver: returns the console errors, the
    <svg>/<img> elements with a zero rendered size, the resources the page fetched, and
    saves a full-page screenshot to `shot`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    o = webdriver.ChromeOptions()
    for f in ("--headless=new", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,1024"):
        o.add_argument(f)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=o, service=Service(shutil.which("chromedriver")))
    try:
        drv.get("file://" + html)
        errors = [e["message"] for e in drv.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        zero = drv.execute_script(
            "return Array.from(document.querySelectorAll('svg,img')).filter(e => {const r = e.getBoundingClientRect(); return r.width <= 0 || r.height <= 0;}).length"
        )
        count = drv.execute_script("return document.querySelectorAll('svg,img').length")
        fetched = drv.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        height = drv.execute_script("return document.documentElement.scrollHeight")
        drv.set_window_size(1280, min(int(height) + 100, 30000))
        drv.save_screenshot(shot)
        return errors, zero, count, fetched
    finally:
        drv.quit()


def person_checks(html, shot, what):
    errors, zero, count, fetched = in_webdriver(html, shot)
    check(not errors, f"{what}: console errors {errors}")
    check(count > 0 and zero == 0, f"{what}: {zero} of {count} svg/img elements render with zero size")
    check(not fetched, f"{what}: network requests {fetched}")
    check(os.path.getsize(shot) > 10_000, f"{what}: full-page screenshot {shot}")


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(c):
            return c
    sys.exit("no chromium on PATH")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lake, out = os.path.join(work, "lake"), os.path.join(work, "report")
    sample = os.path.join(root, "sample-data")
    dirs = [os.path.join(sample, d) for d in sorted(os.listdir(sample)) if os.path.isdir(os.path.join(sample, d))]
    subprocess.run([exe, "ingest", "--lake", lake, *dirs], check=True, capture_output=True)
    subprocess.run([exe, "report", "qual", "--plan", os.path.join(root, "sample-data", "qual-plan.toml"), "--lake", lake, "--out", out], check=True)
    html = os.path.join(out, "qual-SIC1200-Q101-SAMPLE.html")
    rep = json.load(open(os.path.join(out, "qual-SIC1200-Q101-SAMPLE.json")))
    e = rep["evaluation"]
    check(rep["format"] == "yieldlake-qual-report/1", "JSON format")
    # The JSON report, the sample plan and every shipped profile validate against the
    # JSON Schemas in schemas/ (jsonschema, Draft 2020-12).
    import jsonschema
    import tomllib

    def valid(doc, schema_name, what):
        schema = json.load(open(os.path.join(root, "schemas", schema_name)))
        errs = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
        check(not errs, f"{what} against schemas/{schema_name}: {[e.message for e in errs[:3]]}")

    valid(rep, "qual-report.json", "the JSON report")
    valid(tomllib.load(open(os.path.join(root, "sample-data", "qual-plan.toml"), "rb")), "qual-plan.json", "sample-data/qual-plan.toml")
    for f in sorted(os.listdir(os.path.join(root, "profiles"))):
        valid(tomllib.load(open(os.path.join(root, "profiles", f), "rb")), "qual-profile.json", f"profiles/{f}")
    browser = chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND", "--disable-extensions"]
    dom = subprocess.run([browser, *flags, "--dump-dom", "file://" + html], capture_output=True, text=True, timeout=120)
    check(dom.returncode == 0 and "<html" in dom.stdout, f"chromium rendered the report ({dom.returncode}: {dom.stderr[-300:]})")
    d = Dom()
    d.feed(dom.stdout)
    check(d.verdict.strip() == e["verdict"].upper(), f"verdict {d.verdict!r} vs JSON {e['verdict']}")
    for s in e["stresses"]:
        got = d.rows.get(s["name"], {}).get("fails")
        check(got == f"{s['failed']}/{s['units']}", f"{s['name']} fails/SS {got} vs JSON {s['failed']}/{s['units']}")
    want_fits = [f"{f['fit']:.2f}" for s in e["stresses"] for f in s["fit"]]
    check(d.fits == want_fits, f"FIT cells {d.fits} vs JSON {want_fits}")
    plots = sum(1 for s in e["stresses"] if s["weibull"]) + sum(len({x["test_name"] for x in s["drift"]}) for s in e["stresses"])
    check(d.svgs == plots, f"{d.svgs} SVG plots, expected {plots}")
    check(not d.external, f"external references: {d.external}")
    check(e["profile"]["verified"] or "Unverified profile" in dom.stdout, "unverified profile noted")
    pdf = os.path.join(work, "qual.pdf")
    p = subprocess.run([browser, *flags, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", "file://" + html], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0 and os.path.exists(pdf), f"chromium printed the report ({p.stderr[-300:]})")
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True).stdout if os.path.exists(pdf) else ""
    check("Qualification report" in text and e["verdict"].upper() in text, "printed PDF has the title and verdict")
    for s in e["stresses"]:
        check(s["name"] in text, f"printed PDF names {s['name']}")
    pages = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True).stdout if os.path.exists(pdf) else ""
    m = re.search(r"Pages:\s+(\d+)", pages)
    # Page breaks between sections: at least one page per stress section.
    check(m is not None and int(m.group(1)) > len(e["stresses"]), f"printed pages: {m.group(1) if m else '?'}")
    # The PDF yieldlake writes itself (typst).
    qpdf = os.path.join(out, "qual-SIC1200-Q101-SAMPLE.pdf")
    qtext = pdf_text(qpdf)
    check("Qualification report: SIC1200-Q101-SAMPLE" in qtext, "qual PDF has its title")
    check(re.search(r"Verdict\s+" + e["verdict"].upper(), qtext) is not None, f"qual PDF verdict is the JSON's {e['verdict']}")
    for s in e["stresses"]:
        check(s["name"] in qtext and f"{s['failed']}/{s['units']}" in qtext, f"qual PDF has {s['name']} with {s['failed']}/{s['units']}")
    for s in e["stresses"]:
        for f in s["fit"]:
            check(f"{f['fit']:.2f}" in qtext, f"qual PDF has the FIT {f['fit']:.2f} of {s['name']}")
    check_pages(qpdf, work, "qual report")
    check_lot(exe, work, lake, browser, flags)
    check_lot_pdf(exe, work, lake, root)
    # A person's checks through WebDriver; the screenshots are kept as CI artefacts.
    art = os.environ.get("YIELDLAKE_ARTEFACTS", os.path.join(work, "artefacts"))
    os.makedirs(art, exist_ok=True)
    person_checks(html, os.path.join(art, "qual-report.png"), "qual report")
    person_checks(os.path.join(work, "lot-report", "lot-YL2026-01.html"), os.path.join(art, "lot-report.png"), "lot report")
    print(f"report browser checks: {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
