"""The one-page patient report: what the predictor showed, reproducible apart from the timestamp."""
import json
import re

import pytest

from tests.reports.conftest import need_poppler, pdf_images, pdf_pages, pdf_to_pngs


def _patient(cohort, pid):
    import pandas as pd

    values = {f: cohort.clinical.loc[pid].get(f) for f in cohort.feature_columns}
    return {k: v for k, v in values.items() if pd.notna(v)}


@pytest.fixture(scope="module")
def report(test_zoo, tiny_cohort):
    from zoo.cohort.images import read_image
    from zoo.reports.patient_report import explanations

    pid = tiny_cohort.patient_ids[0]
    values = {**_patient(tiny_cohort, pid), "b2m": 29.0}  # far above the training range: flagged
    images = {m: [read_image(p) for p in tiny_cohort.image_paths(pid, m)][:1] for m in ("marrow", "electrophoresis")}
    images = {m: v for m, v in images.items() if v}
    pred = test_zoo.predict_patient(values, images)
    pred.patient_id = pid
    from zoo.explain.patient import training_background

    bg = training_background(test_zoo, tiny_cohort)
    extras = [explanations(test_zoo, values, images, pred, bg, tiny_cohort.schema) for _ in range(2)]
    return test_zoo, tiny_cohort, values, pred, extras, bg, images


def test_same_inputs_give_the_same_report_apart_from_the_timestamp(report):
    from zoo.reports.patient_report import render_patient_report, report_context

    zoo, cohort, values, pred, extras, bg, _ = report
    html = [render_patient_report(report_context(zoo, cohort.schema, values, pred, e, bg, generated=g))[0]
            for e, g in zip(extras, ("2026-01-01 10:00 UTC", "2026-12-31 23:59 UTC"))]
    assert html[0] != html[1]
    strip = [re.sub(r"report generated [^<]*", "", h) for h in html]
    assert strip[0] == strip[1], "figures (Grad-CAM, SHAP) and every number are reproducible"


def test_report_has_inputs_flags_probability_votes_explanations_and_identity(report, tmp_path):
    need_poppler()
    from zoo.reports.patient_report import render_patient_report, report_context

    zoo, cohort, values, pred, extras, bg, images = report
    ctx = report_context(zoo, cohort.schema, values, pred, extras[0], bg)
    html, pdf = render_patient_report(ctx)
    assert f"{pred.probability:.0%}".replace("%", " %") in html
    assert "Venn–Abers pair" in html and "Calibration band" in html and pred.band.capitalize() in html
    assert "β2-microglobulin" in html and "outside the training range" in html, "29 mg/L is flagged"
    assert "Research use only" in html and zoo.hash[:16] in html
    # the predictor's form never sends derived stages; the report shows the ones the models derived and used
    form_values = {k: v for k, v in values.items() if not cohort.schema[k].derived}
    rows = report_context(zoo, cohort.schema, form_values, pred, extras[0], bg)["inputs"]
    derived = {r["label"]: r["value"] for r in rows if r["derived"]}
    assert len(derived) >= 2 and all(v != "unknown" for v in derived.values()), derived
    assert html.count('alt="Grad-CAM') == len(images) and 'alt="SHAP waterfall"' in html
    for name in ("clinical_lr", "clinical_rf"):
        assert zoo.manifest["models"][name]["display"] in html
    out = tmp_path / "r.pdf"
    out.write_bytes(pdf)
    assert pdf_pages(out) == 1, "one page"
    assert len(pdf_to_pngs(out, tmp_path / "png")) == 1
    assert len(pdf_images(out)) == len(images) + 1, "the Grad-CAM images and the waterfall are in the PDF"


def test_predict_cli_writes_the_report_and_refuses_it_for_a_batch(test_zoo_dir, tiny_cohort, tmp_path, capsys):
    need_poppler()
    from zoo.cli import main

    f = tmp_path / "p.json"
    f.write_text(json.dumps({"patient_id": "P-7", "age": 71, "hgb": 95, "b2m": 6.2, "alb": 31}))
    out = tmp_path / "p.pdf"
    assert main(["predict", "--zoo", str(test_zoo_dir), "--clinical", str(f), "--report", str(out)]) == 0
    assert pdf_pages(out) == 1
    assert json.loads(capsys.readouterr().out)["patient_id"] == "P-7"
    table = tmp_path / "t.csv"
    table.write_text("patient_id,age\nA,60\n")
    assert main(["predict", "--zoo", str(test_zoo_dir), "--clinical", str(table), "--out", str(tmp_path / "o.csv"),
                 "--report", str(out)]) == 2
    assert "Expected one patient" in capsys.readouterr().err
