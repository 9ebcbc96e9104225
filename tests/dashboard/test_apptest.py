"""One AppTest per page on the tiny cohort + test zoo."""
import re

import pandas as pd
import pytest

from tests.dashboard.conftest import make_app

pytestmark = pytest.mark.slow


def _run(page: str | None = None, patient: str | None = None):
    at = make_app()
    if patient:
        at.session_state["patient"] = patient
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cohort_explorer_renders(app_env):
    at = _run()
    assert at.title[0].value == "Cohort explorer"
    assert any("Patients" == m.label for m in at.metric)
    assert len(at.dataframe) >= 1, "Table 1"


def test_cohort_explorer_filters_update_views(app_env):
    at = _run()
    n_before = next(m.value for m in at.metric if m.label == "Patients")
    at.multiselect(key="ce_sex").set_value(["female"]).run()
    assert not at.exception
    n_after = next(m.value for m in at.metric if m.label == "Patients")
    assert int(n_after) < int(n_before)


def _chips(at) -> str:
    return " ".join(m.value for m in at.markdown if ":material/filter_alt:" in m.value)


def test_cohort_filters_show_as_chips_live_in_the_url_and_come_back_from_a_link(app_env):
    at = _run()
    n_all = int(next(m.value for m in at.metric if m.label == "Patients"))
    assert _chips(at) == "" and "filters" not in at.query_params
    at.multiselect(key="ce_sex").set_value(["female"]).run()
    at.multiselect(key="ce_mod").set_value(["marrow"]).run()
    assert "Sex: female" in _chips(at) and "Has marrow smear" in _chips(at)
    tokens = at.query_params.get_all("filters") if hasattr(at.query_params, "get_all") else at.query_params["filters"]
    assert sorted(tokens) == ["has:marrow", "sex:female"]
    n_filtered = int(next(m.value for m in at.metric if m.label == "Patients"))
    assert n_filtered < n_all

    # a reload at that URL (a new session) comes back with the same filters, chips and count
    again = make_app()
    again.query_params["filters"] = tokens
    again.run()
    assert not again.exception
    assert again.multiselect(key="ce_sex").value == ["female"] and again.multiselect(key="ce_mod").value == ["marrow"]
    assert int(next(m.value for m in again.metric if m.label == "Patients")) == n_filtered
    # clearing removes the chips, the URL parameter and the restriction
    again.button(key="ce_clear").click().run()
    assert _chips(again) == "" and "filters" not in again.query_params
    assert int(next(m.value for m in again.metric if m.label == "Patients")) == n_all


def test_a_hostile_filter_link_changes_nothing(app_env):
    at = make_app()
    at.query_params["filters"] = ["sex:<script>", "iss:IV", "age:abc", "nope:1", "fish:/etc/passwd", "age:-5-400"]
    at.run()
    assert not at.exception
    assert at.multiselect(key="ce_sex").value == [] and at.multiselect(key="ce_iss").value == []
    assert _chips(at) == ""  # the age range clamps to the whole observed range: no restriction, no chip


def test_leaderboard_renders_and_threshold_drives_metrics(app_env):
    at = _run("../pages/leaderboard.py")
    assert at.title[0].value == "Leaderboard"
    table = at.dataframe[0].value
    assert {"AUC", "AUC 95% CI", "Published AUC", "Lift vs oracle", "Lift CI"} <= set(table.columns)
    # the synthetic oracle's lift with its interval (clinical models have a clinical oracle well above chance)
    assert table["Lift CI"].str.match(r"^-?\d+\.\d\d–-?\d+\.\d\d$").any()
    assert any("Built on" in c.value and "threads" in c.value for c in at.caption), "the zoo's build machine"
    # an image model's attention is shown as a multiple of chance with its interval over patients
    ratio = table["Attention ÷ chance (95% CI)"]
    assert ratio.str.match(r"^\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)$").any()
    tables_before = [d.value.copy() for d in at.dataframe]
    at.slider(key="_w_threshold").set_value(0.9).run()
    assert not at.exception
    after = at.dataframe[1].value
    assert not tables_before[1].equals(after), "the threshold slider changes the metrics table"
    assert at.session_state["threshold"] == pytest.approx(0.9)


def test_leaderboard_attention_tables_have_no_empty_cells(app_env):
    at = _run("../pages/leaderboard.py")
    att = [d.value for d in at.dataframe if "÷ chance 95% CI" in d.value.columns]
    twins = [d.value for d in at.dataframe if "trained − randomised" in d.value.columns]
    assert len(att) >= 2 and len(twins) == len(att), "per image modality: the models' table, and against random nets"
    assert all("trained − randomised" not in t.columns for t in att), "each table fits without scrolling sideways"
    for t in att:
        # a column with a missing value would show Streamlit's grey 'None': band columns only where they apply
        assert not t[[c for c in t.columns if c != "target"]].isna().any().any(), t
    with_bands = [t for t in att if "on bands" in t.columns]
    assert with_bands and len(with_bands) < len(att), "gel models show their bands, marrow models do not"
    # each fold model's ratio beside the final model's: the training-run spread the interval leaves out
    rows = pd.concat(att)
    cell = rows["Model"].str.contains("plasma cells")
    assert cell.any() and (~cell).any()
    # every lane and whole-field model shows one ratio per fold model (the test profile has two folds); a
    # cell-level model shows '—' (its fold models are not mapped, for cost)
    col = "fold models ÷ chance (images)"
    one = r"(\d+\.\d\d|—) \(\d+\)"  # a fold model's ratio and the number of test images it rests on
    assert rows.loc[~cell, col].str.fullmatch(f"{one} · {one}").all(), rows
    assert rows.loc[~cell, col].str.contains(r"\d\.\d\d").all()
    assert (rows.loc[cell, col] == "—").all()
    # beside each model, its randomly initialised networks on the same images: a number or '—', never blank
    twin_rows = pd.concat(twins)
    assert sorted(twin_rows["Model"]) == sorted(rows["Model"])
    assert not twin_rows.isna().any().any(), twin_rows
    num = r"[+-]?\d+\.\d{3}|—"
    for c in ("randomised ÷ chance", "trained ÷ chance there", "trained − randomised"):
        assert twin_rows[c].str.fullmatch(num).all(), twin_rows[c]
    assert twin_rows["trained − randomised"].str.match(r"[+-]\d").any(), "the test zoo has twin figures"
    assert twin_rows["trained − randomised 95% CI"].str.fullmatch(r"[+-]\d\.\d\d to [+-]\d\.\d\d|—").all()
    from zoo.explain.attention import TWIN_DRAWS

    assert twin_rows["each random network"].str.fullmatch(
        r"(\d+\.\d\d|—)( / (\d+\.\d\d|—)){%d}|—" % (TWIN_DRAWS - 1)).all()
    # the reading follows the interval's sign as printed, against the average of the networks it rests on
    reading = twin_rows["reading"]
    pattern = r"(above|below|not told apart from) the average of its (\d+) random networks|—"
    assert reading.str.fullmatch(pattern).all(), reading
    for ci, said, draws in zip(twin_rows["trained − randomised 95% CI"], reading, twin_rows["each random network"]):
        if said == "—":  # no interval, or too few patients for one worth reading
            continue
        lo, hi = (float(v) for v in ci.split(" to "))
        assert said.startswith("above" if lo > 0 else "below" if hi < 0 else "not told apart"), (ci, said)
        shown = [d for d in draws.split(" / ") if d != "—"]
        assert len(shown) <= int(re.fullmatch(pattern, said).group(2)) <= TWIN_DRAWS, (said, draws)
    # the test zoo has models on both sides and one with fewer than 10 patients: none of this is vacuous
    assert reading.str.startswith("above").any() and reading.str.startswith("below").any()
    assert (reading == "—").any() and reading.str.startswith("not told apart").any()


MAIN_LABEL = "P(PD within 24 months), main ensemble"


def _prob(at):
    shown = [m.value for m in at.metric if m.label == MAIN_LABEL]
    return shown[0] if shown else None


def _predict(at):
    at.button(key="pp_predict").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return _prob(at)


def test_predictor_shows_no_probability_before_predict_and_marks_changes_out_of_date(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[0]
    at = _run("../pages/predictor.py", patient=pid)
    assert _prob(at) is None, "no probability before the first prediction"
    assert any("cohort prevalence (not a prediction)" in i.value for i in at.info)
    p0 = _predict(at)
    assert p0 and p0.endswith("%")
    md = " ".join(m.value for m in at.markdown)
    assert "Calibration band **" in md and "(95 %)" in md, "the probability's uncertainty range is shown"
    assert any(c.value.startswith("Venn–Abers pair") for c in at.caption)
    assert not any("miscalibrated" in w.value for w in at.warning), "no per-patient calibration verdict"
    at.number_input(key=f"pp_{pid}_ldh_U/L").set_value(3500.0)
    at.number_input(key=f"pp_{pid}_b2m_mg/L").set_value(60.0)
    at.selectbox(key=f"pp_{pid}_fish_del17p").set_value("positive")
    at.selectbox(key=f"pp_{pid}_fish_1q21_gain").set_value("positive")
    at.run()
    assert _prob(at) is None and any("Out of date" in w.value for w in at.warning), "a stale number is never shown"
    p1 = _predict(at)
    assert p1 and p0 != p1, f"probability unchanged: {p0}"


def test_predictor_us_units_give_the_same_probability_as_si(app_env):
    """Hb 9.8 g/dL, albumin 3.1 g/dL, creatinine 1.9 mg/dL, M-protein 3.2 g/dL == 98 g/L, 31 g/L, 168 µmol/L, 32 g/L."""
    si = {"hgb": 98.0, "alb": 31.0, "creatinine": 1.9 * 88.42, "mprotein_level": 32.0, "age": 67.0}
    us = {"hgb": (9.8, "g/dL"), "alb": (3.1, "g/dL"), "creatinine": (1.9, "mg/dL"), "mprotein_level": (3.2, "g/dL")}
    at = _run("../pages/predictor.py")
    for name, x in si.items():
        canon = {"hgb": "g/L", "alb": "g/L", "creatinine": "µmol/L", "mprotein_level": "g/L", "age": "years"}[name]
        at.number_input(key=f"pp_blank_{name}_{canon}").set_value(x)
    p_si = _predict(at)
    at2 = _run("../pages/predictor.py")
    for name, (_, unit) in us.items():
        at2.selectbox(key=f"pp_blank_unit_{name}").set_value(unit)
    at2.run()
    for name, (x, unit) in us.items():
        at2.number_input(key=f"pp_blank_{name}_{unit}").set_value(x)
    at2.number_input(key="pp_blank_age_years").set_value(67.0)
    p_us = _predict(at2)
    assert p_si is not None and p_si == p_us
    assert "hgb:g/dL" in at2.session_state["units"], "the unit choice is remembered for the session and the link"


def test_predictor_invalid_value_names_haemoglobin_and_blocks_predict(app_env):
    at = _run("../pages/predictor.py")
    at.number_input(key="pp_blank_age_years").set_value(67.0)
    assert _predict(at) is not None
    at.number_input(key="pp_blank_hgb_g/L").set_value(9.8)  # g/dL typed into a g/L box
    at.run()
    msgs = [e.value for e in at.error]
    assert any(m.startswith("Haemoglobin: 9.8 g/L is outside") and "g/dL" in m for m in msgs), msgs
    assert _predict(at) is None, "no probability while a value is invalid"
    assert any("Not predicted: fix Haemoglobin" in e.value for e in at.error)


def test_predictor_corrects_total_calcium_with_albumin(app_env):
    at = _run("../pages/predictor.py")
    at.number_input(key="pp_blank_alb_g/L").set_value(31.0)
    at.radio(key="pp_blank_calcium_how").set_value("total")
    at.run()
    at.number_input(key="pp_blank_calcium_total_mmol/L").set_value(2.5)
    at.run()
    assert any("Corrected Ca = total + 0.02 × (40 − albumin g/L)" in c.value and "2.68 mmol/L" in c.value
               for c in at.caption)


def test_predictor_corrupt_upload_shows_error_not_exception(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[1]
    at = _run("../pages/predictor.py", patient=pid)
    at.number_input(key=f"pp_{pid}_age_years").set_value(77.0)
    at.file_uploader(key="pp_up_marrow").set_value(("broken_smear.png", b"\x89PNG but not really", "image/png"))
    _predict(at)
    errors = [e.value for e in at.error]
    assert any("broken_smear.png" in e and "Image not used" in e for e in errors), errors
    assert at.number_input(key=f"pp_{pid}_age_years").value == 77.0, "the rest of the form is kept"
    assert _prob(at) is not None, "a prediction is still shown"


def test_predictor_blank_patient_flags_values_outside_the_cohort(app_env):
    at = _run("../pages/predictor.py")
    at.number_input(key="pp_blank_ldh_U/L").set_value(3900.0)
    assert _predict(at) is not None
    assert any("Lactate dehydrogenase (U/L) = 3900 is outside the cohort's observed range" in w.value
               for w in at.warning)


def test_explainability_renders(app_env, tiny_cohort):
    at = _run("../pages/explainability.py", patient=tiny_cohort.patient_ids[2])
    assert at.title[0].value == "Explainability"
    captions = " ".join(c.value for c in at.caption)
    assert "Explainer:" in captions and "Shapley" in captions
    # under one image's heat map: the model's figure over the test patients against random networks
    assert "randomly initialised networks of its architecture" in captions
    # under a gel's maps: what a map of evidence for PD cannot show (the smear's maps get no such line)
    shown = at.multiselect(key="ex_cam_models").value
    gels = [m for m in shown if m.startswith("ife_")]
    assert gels and [m for m in shown if m.startswith("marrow_")], shown
    assert captions.count("Immunoparesis shows as an absence") == 1
    # by default the waterfall explains the main ensemble's clinical part, and says so
    assert at.selectbox(key="ex_shap_model").value == "ens_soft_vote"
    assert "(the predictor's main number), clinical part" in captions and "held fixed" in captions
    at.selectbox(key="ex_shap_model").set_value("clinical_lr").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "alone: its calibrated P(PD)" in captions and "not the ensemble" in captions
    n_charts = len(at.get("vega_lite_chart"))
    at.toggle(key="ex_shap_global").set_value(True).run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == n_charts + 2, "mean |SHAP| and beeswarm over the test patients"


def test_explainability_says_how_many_of_a_smears_plasma_cells_a_cell_model_pooled(app_env, tiny_cohort, monkeypatch):
    """The crop table under a cell-level model's map counts the cells it pooled against those found (the tiny
    cohort's smears have fewer than 16, so the limit is lowered to 2 here to make it bind)."""
    import zoo.segment.cells as cells

    real = cells.pooled_instances
    monkeypatch.setattr(cells, "pooled_instances", lambda instances, limit: real(instances, 2))
    pid = next(p for p in tiny_cohort.patient_ids if tiny_cohort.image_paths(p, "marrow"))
    at = _run("../pages/explainability.py", patient=pid)
    captions = " ".join(c.value for c in at.caption)
    assert "plasma cells found are pooled (at most 2 per smear" in captions, captions[:2000]


def test_leaderboard_warns_when_the_cohort_is_too_small(app_env, test_zoo):
    at = _run("../pages/leaderboard.py")
    need = test_zoo.metrics()["sample_size"]["development"]["riley"]["n"]
    assert any("Sample size" in w.value and "Development cohort too small" in w.value and f"minimum is {need}"
               in w.value for w in at.warning)
    assert not any("External cohort too small" in w.value for w in at.warning), "the external one on its own split"
    at.radio(key="_w_split").set_value("external").run()
    assert any("External cohort too small" in w.value for w in at.warning)


def _tree(d):
    return sorted((p.relative_to(d).as_posix(), p.stat().st_mtime_ns) for p in d.rglob("*"))


def test_failure_cases_review_survives_restart_in_the_state_folder(app_env, test_zoo_dir, tmp_path):
    before = _tree(test_zoo_dir)
    at = _run("../pages/failure_cases.py")
    assert at.title[0].value == "Failure cases"
    at.selectbox(key="fc_category").set_value("attention on gel edge/background")
    at.text_area(key="fc_note").set_value("attention sits on the gel edge")
    at.button(key="fc_save").click()
    at.run()
    assert not at.exception
    assert any("saved" in s.value for s in at.success)
    assert at.text_area(key="fc_note").value == "", "the form clears only after the save committed"
    at2 = _run("../pages/failure_cases.py")  # a fresh app session: a restart
    from zoo.reviews import ANONYMOUS, ReviewStore

    notes = ReviewStore.in_state(test_zoo_dir.name, tmp_path / "state").all()
    assert notes["note"].tolist() == ["attention sits on the gel edge"]
    assert notes["reviewer"].tolist() == [ANONYMOUS], "without sign-in the note is signed anonymous (local)"
    assert "attention sits on the gel edge" in [t.value for t in at2.text], "the note is shown on the patient"
    assert any("anonymous (local)" in m.value.replace("\\", "") and "UTC" in m.value for m in at2.markdown), \
        "with author and time (Markdown-escaped: shown as typed)"
    assert _tree(test_zoo_dir) == before, "the zoo folder is never written: it may be read-only"


def test_a_busy_database_keeps_the_note_in_the_form_and_says_retry(app_env, test_zoo_dir, tmp_path):
    import sqlite3

    from zoo.reviews import ReviewStore

    store = ReviewStore.in_state(test_zoo_dir.name, tmp_path / "state")
    store.add("X", "test", "other", "warm-up")  # the database exists; now another writer holds its lock
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        at = _run("../pages/failure_cases.py")
        at.selectbox(key="fc_category").set_value("other")
        at.text_area(key="fc_note").set_value("a long thoughtful note")
        at.button(key="fc_save").click()
        at.run(timeout=60)
        assert not at.exception
        assert any("press Save again" in w.value for w in at.warning), [w.value for w in at.warning]
        assert at.text_area(key="fc_note").value == "a long thoughtful note", "the note stays in the form"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    at.button(key="fc_save").click()
    at.run()
    assert "a long thoughtful note" in store.all()["note"].tolist()


def test_failure_cases_renders_when_the_state_folder_is_not_writable(app_env, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("MYELOZOO_STATE", str(tmp_path / "file" / "state"))
    at = _run("../pages/failure_cases.py")
    assert at.title[0].value == "Failure cases"
    assert at.selectbox(key="fc_category").value is None, "the category starts empty"
    at.text_area(key="fc_note").set_value("not lost")
    at.button(key="fc_save").click()
    at.run()
    assert any("Choose a category first" in e.value for e in at.error)
    assert at.text_area(key="fc_note").value == "not lost"
    at.selectbox(key="fc_category").set_value("other")
    at.button(key="fc_save").click()
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "expected a writable state folder" in errors and "MYELOZOO_STATE" in errors
    assert str(tmp_path) not in errors
    assert at.text_area(key="fc_note").value == "not lost"


def test_missing_zoo_explains_how_to_build(tiny_cohort_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MYELOZOO_COHORT", str(tiny_cohort_dir))
    monkeypatch.setenv("MYELOZOO_ZOO", str(tmp_path / "no_zoo"))
    at = _run("../pages/leaderboard.py")
    assert any("python -m zoo train" in c.value for c in at.code)
    at = _run()
    assert at.title[0].value == "Cohort explorer", "the explorer works without a zoo"


def test_shared_state_comes_from_the_url_and_survives_page_switches(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[3]
    at = make_app()
    at.query_params["patient"] = pid
    at.query_params["threshold"] = "0.7"
    at.run()
    at.switch_page("../pages/explainability.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="_w_patient").value == pid
    at.switch_page("../pages/leaderboard.py")
    at.run()
    assert at.slider(key="_w_threshold").value == 0.7
    at.switch_page("../pages/predictor.py")
    at.run()
    assert at.session_state["patient"] == pid
    assert at.query_params["patient"] == pid and at.query_params["threshold"] == "0.700"


def test_predictor_shows_the_patients_staging_beside_the_probability(app_env, tiny_cohort):
    pid = tiny_cohort.patient_ids[0]
    at = _run("../pages/predictor.py", patient=pid)
    _predict(at)
    labels = {m.label: m.value for m in at.metric}
    assert {"ISS", "R-ISS", "R2-ISS", "IMS/IMWG high risk"} <= set(labels)
    from zoo.schema.derived import derive_staging_systems

    expected = derive_staging_systems(tiny_cohort.clinical.loc[[pid]], tiny_cohort.schema.ldh_uln).iloc[0]
    assert labels["R2-ISS"] == (expected["r2iss"] if isinstance(expected["r2iss"], str) else "—")


def test_leaderboard_compares_with_the_best_staging_system(app_env, test_zoo):
    at = _run("../pages/leaderboard.py")
    best = test_zoo.metrics()["staging"]["best"]
    ref = test_zoo.manifest["models"][best]["display"]
    table = at.dataframe[0].value
    assert {f"Δ AUC vs {ref}", f"Δ AUC vs {ref} CI", f"NRI vs {ref}", "LR test p"} <= set(table.columns)
    assert set(table.loc[table["Group"] == "Staging (reference)", "Model"]) >= {"ISS", "R-ISS", "R2-ISS"}
    assert any(h.value == f"Reclassification against {ref}" for h in at.subheader)
    rc = at.dataframe[-1].value
    assert rc.to_numpy().sum() == len(test_zoo.split()["test"]), "the reclassification table counts the test set"


def test_cohort_explorer_draws_km_by_r2iss_beside_predicted_risk(app_env):
    at = make_app()
    at.session_state["ce_view"] = "Time to progression"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "R2-ISS from ISS, LDH" in captions and "Predicted risk groups" in captions
    assert len(at.get("vega_lite_chart")) >= 3, "predicted risk, R2-ISS and the chosen grouping"
    import re

    def patients(caption: str) -> int:  # drawn groups "(n=12)" and groups too small to draw "**g**: 1 patient"
        return sum(map(int, re.findall(r"\(n=(\d+)\)", caption) + re.findall(r"\*\*: (\d+) patient", caption)))

    panels = [c.value for c in at.caption if c.value.startswith("Groups:")][:2]
    assert len(panels) == 2 and patients(panels[0]) == patients(panels[1]) > 0, panels


def test_leaderboard_subgroups_tab_lists_groups_and_greys_small_ones(app_env):
    at = _run("../pages/leaderboard.py")
    at.session_state["lb_tab"] = "Subgroups"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sub = at.dataframe[-1].value
    sub = getattr(sub, "data", sub)  # a Styler (greyed rows) or a frame
    assert list(sub.columns[:4]) == ["Subgroup", "Group", "n", "Events"]
    assert {"Sex", "Age ≥ 65", "ISS", "R-ISS", "Heavy-chain isotype"} <= set(sub["Subgroup"])
    assert (sub["Status"] == "too few events").all(), "80 patients: no test group reaches 10 events"
    assert any("no forest plot" in i.value for i in at.info)
    at.selectbox(key="lb_sg_extra").set_value("fish_del17p").run()
    sub = getattr(at.dataframe[-1].value, "data", at.dataframe[-1].value)
    assert "del(17p)" in " ".join(sub["Subgroup"]), "a user-chosen variable becomes a subgrouping"


def test_leaderboard_model_card_tab_offers_html_and_pdf(app_env):
    at = _run("../pages/leaderboard.py")
    at.session_state["lb_tab"] = "Model card"
    at.run()
    at.button(key="lb_card_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Model card (HTML)" in labels and "Model card (PDF)" in labels


def test_failure_cases_says_what_a_gels_map_cannot_show(app_env):
    """Under a failure's gel heat maps, the line on what a map of evidence for PD cannot mark (immunoparesis is an
    absence); not under a smear's."""
    at = _run("../pages/failure_cases.py")
    captions = " ".join(c.value for c in at.caption)
    assert "of the heat falls on plasma cells" in captions, "a smear's map is shown"
    assert "of the heat falls on the polyclonal γ region" in captions, "a gel's map is shown"
    assert captions.count("Immunoparesis shows as an absence") == 1
