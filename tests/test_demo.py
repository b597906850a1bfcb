"""``autodiff demo`` (fast configuration): the page and report.json it writes, and the page in a
real headless browser (Debian's chromium; skipped when absent, CI installs it): every image
loads, the key numbers are on the page, a screenshot is saved."""

import argparse
import json
import re
import shutil
import subprocess

import pytest

import landscape.demo as demo
from autodiff.cli import UsageError

pytestmark = pytest.mark.cpu_only  # the demo runs on the host by design

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# Appended to a copy of the page: once everything has loaded, the natural width of each image
# (0 for a broken one) is written into the DOM, which --dump-dom prints.
PROBE = (
    "<script>window.addEventListener('load', () => { const p = document.createElement('pre');"
    " p.id = 'image-widths'; p.textContent = JSON.stringify(Array.from(document.images,"
    " i => (i.complete ? i.naturalWidth : 0))); document.body.appendChild(p); });</script>"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    index = demo.run(out, fast=True, progress=False)
    return index, json.loads((out / "report.json").read_text())


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium (apt-get install chromium; CI installs it)")


def browse(page, tmp_path, *extra: str) -> str:
    profile = tmp_path / "profile"
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_report_has_every_section_and_the_lecture_numbers(built):
    _, report = built
    assert list(report["sections"]) == ["lecture", "training", "spectrum", "fdim", "saddles", "surface"]
    lecture = report["sections"]["lecture"]
    assert lecture["d out/dx"] == pytest.approx(6.668866100743902, rel=1e-12)
    assert lecture["d out/dx"] == pytest.approx(lecture["d out/dx by hand"], rel=1e-12)
    assert lecture["d out/dy"] == pytest.approx(lecture["d out/dy by hand"], rel=1e-12)
    assert report["sections"]["saddles"]["strict: classify"] == "strict saddle"
    assert report["sections"]["saddles"]["non-strict: classify"] == "non-strict saddle"
    fdim = report["sections"]["fdim"]
    for kind in ("train", "test", "gaussian"):
        assert 0 < fdim[f"rank on {kind} inputs"] <= min(fdim["p - #hidden"], fdim["n out"])
    assert report["configuration"] == "fast" and report["seconds"] > 0


def test_page_is_self_contained(built):
    index, report = built
    page = index.read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 1 + 9 + 1 + 1 + 1 + 1 + 2  # graph, 9 frames, then one or two per section
    assert all(s.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for s in sources)
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    for key in report["sections"]:
        assert f'<section id="{key}">' in page


def test_command_refuses_a_file_as_out(tmp_path):
    parser = argparse.ArgumentParser()
    demo.add_demo_parser(parser.add_subparsers())
    (tmp_path / "taken").write_text("")
    args = parser.parse_args(["demo", "--out", str(tmp_path / "taken"), "--fast"])
    with pytest.raises(UsageError, match="not a file"):
        args.func(args)


def test_a_new_section_is_one_builder_in_the_list(tmp_path, monkeypatch):
    def extra(ctx):
        (ctx.out / "extra.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')
        return demo.Section(
            "extra", "7. Extra", ["added"], [demo.Picture(ctx.out / "extra.svg")], {"answer": 42}
        )

    monkeypatch.setattr(demo, "SECTIONS", [extra])
    page = demo.run(tmp_path, fast=True, progress=False).read_text()
    assert '<section id="extra">' in page and 'data-key="extra.answer">42<' in page
    assert json.loads((tmp_path / "report.json").read_text())["sections"]["extra"]["answer"] == 42


def test_command_names_the_extra_when_a_dependency_is_missing(tmp_path, monkeypatch):
    def needs_sklearn(ctx):
        raise ImportError("digits need scikit-learn")

    monkeypatch.setattr(demo, "SECTIONS", [needs_sklearn])
    parser = argparse.ArgumentParser()
    demo.add_demo_parser(parser.add_subparsers())
    args = parser.parse_args(["demo", "--out", str(tmp_path / "out")])
    with pytest.raises(UsageError, match=r"scikit-learn.*pip install -e \"\.\[demo\]\""):
        args.func(args)


def test_in_a_browser_every_image_loads_and_the_numbers_show(built, tmp_path):
    index, report = built
    probe = index.parent / "probed.html"
    probe.write_text(index.read_text().replace("</body>", PROBE + "</body>"))
    dom = browse(probe, tmp_path, "--virtual-time-budget=10000", "--dump-dom")
    widths = json.loads(re.search(r'<pre id="image-widths">(.*?)</pre>', dom).group(1))
    assert len(widths) == index.read_text().count("<img ")
    assert all(w > 0 for w in widths), f"broken images at {[i for i, w in enumerate(widths) if w == 0]}"
    shown = dict(re.findall(r'data-key="([^"]+)">([^<]*)<', dom))
    for key, section in report["sections"].items():
        for name in ("d out/dx", "test accuracy", "kind of point", "lambda_max", "p - #hidden"):
            if name in section:
                assert shown[f"{key}.{name}"] == demo.number(section[name])
    assert shown["lecture.d out/dx"] == "6.669" and shown["saddles.strict: classify"] == "strict saddle"
    shot = tmp_path / "demo.png"
    browse(index, tmp_path, "--window-size=1200,2000", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
