"""The command line: predict, leaderboard (JSON)."""
import json

import pytest


def test_predict_cli_returns_every_model_and_ensemble(test_zoo_dir, tiny_cohort, tmp_path, capsys):
    from zoo.cli import main

    f = tmp_path / "patient.json"
    f.write_text(json.dumps({"age": 71, "hgb": {"value": 8.9, "unit": "g/dL"}, "ldh": 420, "fish_del17p": "positive",
                             "mprotein_heavy": "IgA", "b2m": 6.2, "alb": 31}))
    img = tiny_cohort.image_paths(tiny_cohort.patient_ids[0], "electrophoresis")[0]
    assert main(["predict", "--zoo", str(test_zoo_dir), "--clinical", str(f), "--electrophoresis", str(img)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["probability"] <= 1 and out["risk_band"] in ("low", "intermediate", "high")
    assert set(out["ensembles"]) >= {"ens_soft_vote", "ens_stacking", "ens_fusion_xgb"}
    assert out["models"]["clinical_lr"] is not None and out["models"]["marrow_resnet18"] is None
    assert "electrophoresis" in out["modalities_used"]["ens_fusion_lr"] or \
        "electrophoresis" in out["modalities_used"]["ens_soft_vote"]


def test_predict_cli_names_bad_values(test_zoo_dir, tmp_path, capsys):
    from zoo.cli import main

    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"hgb": 10.2, "sex": "unknown-sex", "ldh": "high"}))
    assert main(["predict", "--zoo", str(test_zoo_dir), "--clinical", str(f)]) == 2
    err = capsys.readouterr().err
    assert "It looks like g/dL: 10.2 g/dL = 102 g/L" in err
    assert "Sex: expected one of ['male', 'female']. Got 'unknown-sex'" in err
    assert "Lactate dehydrogenase: expected a number in U/L. Got 'high'" in err


def test_leaderboard_cli_json(test_zoo_dir, capsys):
    from zoo.cli import main

    assert main(["leaderboard", "--zoo", str(test_zoo_dir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in rows} >= {"ens_soft_vote", "clinical_lr", "ife_resnet18"}
    assert all("auc_lo" in r and "published_auc" in r for r in rows)
    assert main(["leaderboard", "--zoo", str(test_zoo_dir), "--split", "external"]) == 0


@pytest.mark.parametrize("args,code", [(["validate", "/nonexistent/cohort"], 1)])
def test_cli_exit_codes(args, code):
    from zoo.cli import main

    assert main(args) == code
