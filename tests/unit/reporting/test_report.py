"""The report: tables carry mean ± spread, every <img> exists, findings are present; optional browser check."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from sftlens.errors import DataError
from sftlens.reporting import tables
from sftlens.reporting.config import ReportConfig
from sftlens.reporting.stage import run

from .conftest import synthetic_rows, write_results


def test_per_level_table_has_mean_and_spread():
    acc = pd.DataFrame(synthetic_rows(seeds=2)["accuracy"])
    acc["train_level"] = acc["train_level"].astype(str)
    t = tables.per_level_table(acc)
    assert list(t.index) == ["train L0 (n=960)", "train L2 (n=960)", "train L4 (n=960)"]
    assert "in mean" in t.columns and "ood L4" in t.columns
    assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d", c) for c in t["in mean"])


def test_base_model_row_and_reference_line_values():
    acc = pd.DataFrame(synthetic_rows(seeds=2)["accuracy"])
    acc["train_level"] = acc["train_level"].astype(str)
    base = pd.DataFrame(
        [{"test_set": "test", "domain": d, "test_level": t, "n": 10, "correct": 4 + t, "accuracy": (4 + t) / 10}
         for d in ("in", "ood") for t in (-1, 0, 1, 2, 3, 4)]
    )  # fmt: skip
    t = tables.per_level_table(acc, base=base)
    assert t.index[0] == "base model" and len(t) == 4
    assert t.loc["base model", "in mean"] == "30.0" and t.loc["base model", "ood L4"] == "80.0"
    assert tables.base_macro(base) == {"in": 0.3, "ood": 0.3}
    assert tables.base_macro(None) == {} and tables.base_macro(base, test_set="dev") == {}


def test_report_uses_one_test_set(tmp_path: Path):
    rows = synthetic_rows(seeds=2)
    dev = [{**r, "test_set": "dev", "accuracy": 0.99} for r in rows["accuracy"]]
    base = [{"test_set": s, "domain": d, "test_level": t, "n": 10, "correct": c, "accuracy": c / 10}
            for s, c in (("dev", 9), ("test", 5)) for d in ("in", "ood") for t in (-1, 0, 4)]  # fmt: skip
    run_dir = write_results(tmp_path / "run", {**rows, "accuracy": rows["accuracy"] + dev,
                                               "base_accuracy": base})  # fmt: skip
    res = tables.load_results(run_dir)
    assert res.test_set == "test" and set(res.accuracy["test_set"]) == {"test"}
    assert (res.accuracy["accuracy"] < 0.99).all()
    assert (
        tables.per_level_table(res.accuracy, base=res.base_accuracy).loc["base model", "in mean"]
        == "50.0"
    )
    assert tables.base_macro(res.base_accuracy, res.test_set) == {"in": 0.5, "ood": 0.5}


def test_mean_spread_over_seeds():
    df = pd.DataFrame({"g": ["a", "a", "b"], "v": [0.2, 0.4, 0.5]})
    out = tables.mean_spread(df, ["g"], "v").set_index("g")
    assert out.loc["a", "mean"] == pytest.approx(0.3)
    assert out.loc["a", "spread"] == pytest.approx(0.1414, abs=1e-3)
    assert out.loc["b", "spread"] == 0.0 and out.loc["b", "seeds"] == 1


def test_kl_per_seed_weights_levels_by_n():
    kl = pd.DataFrame([
        {"train_level": "0", "size": 60, "seed": 0, "test_level": 0, "n": 1, "kl_top10": 1.0},
        {"train_level": "0", "size": 60, "seed": 0, "test_level": 4, "n": 3, "kl_top10": 3.0},
    ])  # fmt: skip
    assert tables.kl_per_seed(kl)["kl"].iloc[0] == pytest.approx(2.5)


def check_structure(index: Path) -> str:
    page = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images, "no figures"
    for name in images:
        assert (index.parent / name).is_file(), name
        assert (index.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for number in range(1, 5):
        assert f'id="finding-{number}"' in page
    assert page.count("<table") >= 4
    return page


def test_mastery_vs_exposure_bins_a_popularity_and_ranks_it():
    world = pd.DataFrame({"exposure": [1, 1, 2, 2, 5], "R": [0.0, 0.2, 0.5, 0.7, 1.0]})
    by_count = tables.mastery_vs_exposure(world)
    assert by_count["exposure"].tolist() == [1, 2, 5]  # a world's few counts stay as they are
    assert by_count["mean"].round(3).tolist() == [0.1, 0.6, 1.0]
    population = pd.DataFrame({"exposure": [10.0**i for i in range(40)], "R": range(40)})
    binned = tables.mastery_vs_exposure(population, max_bins=4)
    assert len(binned) == 4 and binned["seeds"].tolist() == [10, 10, 10, 10]
    assert binned["mean"].tolist() == [4.5, 14.5, 24.5, 34.5]
    assert tables.exposure_spearman(population) == (1.0, 40)
    assert tables.exposure_spearman(population.drop(columns="exposure")) is None


def test_report_structure(synthetic_run: Path):
    result = run(ReportConfig(), synthetic_run)
    page = check_structure(result.index)
    for title in ("Table 2", "Fig. 5", "Table 4", "Table 3", "Table 1", "exposure"):
        assert title in page
    assert "Spearman(exposure, R) = " in page
    md = result.findings_md.read_text()
    assert md.count("holds") >= 4 and "4. **Restoring" in md
    assert md.count("95% interval") >= 8 and "95% interval" in page  # findings and the table
    assert "holds" in result.summary()


def test_report_without_optional_tables(tmp_path: Path):
    t = synthetic_rows(seeds=1)
    only = {"accuracy": [r for r in t["accuracy"] if r["restore_k"] == 0]}
    result = run(ReportConfig(), write_results(tmp_path / "r", only))
    page = result.index.read_text()
    assert "Table 4" not in page and "inconclusive" in page


def test_report_on_a_non_run_is_one_line_error(tmp_path: Path):
    with pytest.raises(DataError, match="accuracy.parquet"):
        run(ReportConfig(), tmp_path)


def find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell"):
        if path := shutil.which(name):
            return path
    return None


def browser_or_skip() -> str:
    """The headless browser; in CI (``CI=true``) a missing one fails the test instead of skipping."""
    browser = find_browser()
    if browser is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but no Chromium found (.ci/run installs it with apt-get)")
        pytest.skip("no headless Chromium found")
    return browser


def headless(browser: str, profile: Path, *args: str) -> str:
    """Run the browser headless with a fresh profile and no network side traffic; its stdout."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1200,2000",
    ]  # fmt: skip
    done = subprocess.run(
        [browser, *flags, *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


# Appended to a copy of the report page: after load, write every <img>'s natural size into the DOM.
SIZE_PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "sftlens-image-sizes";
  out.textContent = JSON.stringify([...document.images].map(
    (img) => [img.getAttribute("src"), img.naturalWidth, img.naturalHeight]));
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.slow
def test_report_renders_in_headless_chromium(synthetic_run: Path, tmp_path: Path):
    browser = browser_or_skip()
    index = run(ReportConfig(), synthetic_run).index
    shot = tmp_path / "shot.png"
    headless(browser, tmp_path / "profile-shot", f"--screenshot={shot}", index.resolve().as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000

    probe = index.parent / "browser-check.html"  # same folder: the figures' relative paths hold
    probe.write_text(index.read_text().replace("</body>", SIZE_PROBE + "</body>"))
    dom = headless(
        browser, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom",
        probe.resolve().as_uri(),
    )  # fmt: skip
    found = re.search(r'<pre id="sftlens-image-sizes">(.*?)</pre>', dom, re.S)
    assert found, "the page script did not run"
    sizes = json.loads(html.unescape(found.group(1)))
    assert len(sizes) == len(re.findall(r"<img ", index.read_text())) > 0
    for src, width, height in sizes:
        assert width > 0 and height > 0, f"figure {src} did not load in the browser"
    for number in range(1, 5):
        assert f'id="finding-{number}"' in dom
