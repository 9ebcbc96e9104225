"""The model card: `python -m zoo report` writes HTML and PDF that name TRIPOD+AI items and hold the subgroups."""
import re

import pytest

from tests.reports.conftest import need_poppler, pdf_images, pdf_pages, pdf_to_pngs
from zoo.reports.tripod import ITEMS, SECTION


@pytest.fixture(scope="module")
def card(test_zoo_dir, tmp_path_factory):
    from zoo.cli import main

    out = tmp_path_factory.mktemp("card")
    assert main(["report", "--zoo", str(test_zoo_dir), "--out", str(out), "--n-bootstrap", "100"]) == 0
    return out


def test_report_writes_html_pdf_and_subgroups_csv(card):
    assert {p.name for p in card.iterdir()} == {"model_card.html", "model_card.pdf", "subgroups.csv"}
    html = (card / "model_card.html").read_text(encoding="utf-8")
    for section, items in SECTION.items():
        assert f'id="{section}"' in html
        assert "TRIPOD+AI " + ", ".join(items) in html, section
    for item, _, topic in ITEMS:  # the appendix lists every item, answered here or by whom
        assert f"<td>{item}</td>" in html, item
    assert "Synthetic data." in html, "the test zoo's cohort is synthetic: the card must say so"
    sub = html[html.index('id="subgroups"'):html.index('id="limitations"')]
    assert "Sex: female" in sub and "Age ≥ 65: ≥ 65" in sub and "ISS: III" in sub and "Site: external site" in sub
    assert "too few events" in sub, "the tiny test cohort has groups under 10 events"
    assert re.search(r'<tr class="few">', sub)
    assert "R2-ISS" in html and "ΔAUC" in html, "the staging comparison is in the card"
    assert "nan" not in re.sub(r"<[^>]+>", " ", html).split(), "missing numbers show as a dash"
    spec = html[html.index('id="specification"'):]
    assert re.search(r"Built on .+ \((AVX\w*|DEFAULT|NO AVX|ZVECTOR|VSX|SVE\d*),\s+\d+\s+threads", spec), \
        "the card names the machine whose floating-point path the image models' weights depend on"


def test_subgroups_csv_has_every_reported_model(card, test_zoo):
    import pandas as pd

    from zoo.evaluation.subgroups import reported_models

    t = pd.read_csv(card / "subgroups.csv")
    assert set(t["model"]) == set(reported_models(test_zoo))
    assert set(t["split"]) == {"test", "external", "held-out"}
    assert {"modality_pattern", "sex", "iss", "riss", "isotype", "age_65", "site"} <= set(t["grouping"])


def test_pdf_pages_render_and_carry_the_figures(card, tmp_path):
    need_poppler()
    pdf = card / "model_card.pdf"
    n = pdf_pages(pdf)
    pngs = pdf_to_pngs(pdf, tmp_path / "pages")
    assert n >= 4 and len(pngs) == n
    imgs = pdf_images(pdf)
    # ROC, calibration and decision curves for test and external, plus the test forest plot (the tiny external
    # site has no group with 10 events, so its forest plot is rightly absent)
    assert len(imgs) >= 7, imgs
    assert all(i["width"] > 200 and i["height"] > 100 for i in imgs)


def test_pdf_renderer_fetches_nothing_but_data_uris(tmp_path):
    """A crafted value can never make the server read a file while rendering (WeasyPrint's fetcher)."""
    need_poppler()
    from zoo.reports.figures import data_uri
    from zoo.reports.render import html_to_pdf

    png = (tmp_path / "x.png")
    from PIL import Image

    Image.new("RGB", (300, 200), "red").save(png)
    html = (f'<img src="file://{png}"><img src="http://127.0.0.1:9/x.png">'
            f'<img src="{data_uri(png.read_bytes())}">')
    out = tmp_path / "t.pdf"
    out.write_bytes(html_to_pdf(html))
    assert len(pdf_images(out)) == 1, "only the data: image is embedded"


def test_card_values_are_escaped():
    from zoo.leaderboard import machine_label
    from zoo.reports.render import render_html

    html = render_html("model_card.html.j2", _minimal_context(notes=['<script>alert(1)</script>']))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Built on" not in html and "not recorded" in html, "a zoo without a recorded machine says so"
    ctx = _minimal_context()
    ctx["zoo"]["machine"] = machine_label({"cpu": "<img src=x onerror=alert(1)>"})  # whatever the machine reports
    html = render_html("model_card.html.j2", ctx)
    assert "<img src=x" not in html and "Built on &lt;img src=x onerror=alert(1)&gt; (?," in html


def _minimal_context(**over):
    from zoo.reports import tripod

    ctx = {"generated": "t", "zoo": {"hash": "0" * 64, "created": "c", "profile": "test", "seed": 0, "versions": {},
                                     "files": [], "n_models": 0, "n_ensembles": 0},
           "synthetic": False, "notes": [], "main": {"display": "m", "threshold": 0.5},
           "items": {s: tripod.items_for(s) for s in tripod.SECTION},
           "cohort": {"n": 1, "n_train": 1, "n_test": 0, "external_n": None, "dates": None, "excluded": {},
                      "prevalence": 0.5},
           "table_one": None, "table_one_columns": [], "predictors": [], "missing": [], "sample_size": {},
           "models": [], "ensembles": [], "performance": {"test": [], "external": []},
           "figures": {"test": {}, "external": {}}, "staging": {"best": None, "chosen_on": None, "test": [], "external": []},
           "has_external": False, "subgroups": [], "subgroup_min_events": 10, "forest": {}, "limitations": [],
           "checklist": tripod.checklist(), "best_single": None, "ipcw": False, "site_difference": None}
    return {**ctx, **over}


def test_a_zoo_without_an_external_cohort_gets_a_card(test_zoo, monkeypatch):
    import pandas as pd

    from zoo.reports.model_card import card_context
    from zoo.reports.render import render_html

    real = test_zoo.leaderboard
    monkeypatch.setattr(test_zoo, "leaderboard", lambda split="test": pd.DataFrame() if split == "external" else real(split))
    ctx = card_context(test_zoo, {}, n_boot=20)
    assert ctx["performance"]["external"] == [] and ctx["performance"]["test"]
    assert "No external validation" in " ".join(ctx["limitations"])
    assert "No external cohort was given" in render_html("model_card.html.j2", ctx)


def test_each_sample_size_warning_is_a_limitation_once(test_zoo):
    """The development cohort's warning was listed twice on a card with an external cohort."""
    from zoo.leaderboard import sample_size_warnings
    from zoo.reports.model_card import card_context

    lim = card_context(test_zoo, n_boot=20)["limitations"]
    warned = sample_size_warnings(test_zoo.metrics())
    assert warned and all(lim.count(w) == 1 for w in warned)


def test_a_cohort_that_is_not_the_zoos_is_refused_not_described(test_zoo, tiny_external_dir, tiny_cohort_dir):
    from zoo.reports.model_card import load_cohorts

    cohorts, notes = load_cohorts(test_zoo, cohort=tiny_external_dir, external=tiny_cohort_dir)
    assert cohorts == {}
    assert len(notes) == 2 and all("is not the one this zoo was" in n for n in notes)
    assert str(tiny_external_dir.parent) not in " ".join(notes), "a folder name, never the server path"


def test_server_paths_leave_only_their_names():
    from zoo.reports.model_card import scrub_paths

    msg = "No such file or directory: '/srv/myelozoo/zoos/a/models/x.safetensors' (see /var/log/x.log)"
    assert scrub_paths(msg) == "No such file or directory: 'x.safetensors' (see x.log)"
    assert scrub_paths("ratio 3/4 and 1.5 g/dL") == "ratio 3/4 and 1.5 g/dL"


def test_forest_plot_survives_odd_intervals_and_dollar_signs():
    import pandas as pd

    from zoo.reports.figures import forest_png

    rows = pd.DataFrame({"grouping_display": ["Cost $", "Site"], "group": ["$x$", "A"], "auc": [0.9, 0.6],
                         "auc_lo": [0.92, 0.4], "auc_hi": [0.99, 0.8], "too_few_events": [False, False]})
    png = forest_png(rows, "t $a$")
    assert png and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_pango_the_html_card_is_still_written(test_zoo, monkeypatch, tmp_path):
    import zoo.reports.model_card as mc
    from zoo.errors import ReportError

    def no_pango(html):
        raise ReportError("Expected the Pango library for PDF reports. Got none on this machine.")

    monkeypatch.setattr(mc, "html_to_pdf", no_pango)
    paths = mc.write_model_card(test_zoo, tmp_path, {}, n_boot=20)
    assert paths["html"].is_file() and "pdf" not in paths and "Pango" in paths["pdf_error"]
    assert not (tmp_path / "model_card.pdf").exists()
