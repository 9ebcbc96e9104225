"""The fused Adam/AdamW update is a speed path: the zoo's CNNs and joint network train with it, and it must be
the update the per-tensor loop applies (same hyperparameters, same gradients) up to float rounding. If a PyTorch
release changed the fused kernel's arithmetic (weight decay, bias correction), the zoo's models would change
without any setting saying so. (Whole trainings are not compared: Adam divides by the root of tiny second moments,
so rounding differences grow over steps as they do between thread counts.)"""
import copy

import pytest
import torch


def _recording(monkeypatch, name: str) -> list:
    made, real = [], getattr(torch.optim, name)

    def make(*a, **kw):
        made.append(kw.get("fused"))
        return real(*a, **kw)

    monkeypatch.setattr(torch.optim, name, make)
    return made


@pytest.mark.parametrize("name", ["ife_resnet18", "marrow_cell_resnet18"])
def test_the_cnns_train_with_the_fused_adam(tiny_cohort, monkeypatch, name):
    from zoo.data import PatientData
    from zoo.models import create_model

    made = _recording(monkeypatch, "Adam")
    create_model(name, "test").fit(PatientData.from_cohort(tiny_cohort), tiny_cohort.y)
    assert made == [True]


def test_the_joint_model_trains_with_the_fused_adamw(tiny_cohort, monkeypatch):
    from zoo.data import PatientData
    from zoo.models import create_model

    made = _recording(monkeypatch, "AdamW")
    create_model("joint_fusion", "test").fit(PatientData.from_cohort(tiny_cohort), tiny_cohort.y)
    assert made == [True]


@pytest.mark.parametrize("opt_name, kw", [("Adam", {"betas": (0.85, 0.995), "weight_decay": 1e-4}),
                                          ("AdamW", {"weight_decay": 1e-4})])
def test_the_fused_update_is_the_per_tensor_loops(opt_name, kw):
    from zoo.models.cnn import fused_optimiser
    from zoo.models.networks import build_network

    torch.manual_seed(0)
    net, _ = build_network("resnet18", 0.3)
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    make = getattr(torch.optim, opt_name)
    fused = fused_optimiser(torch.device("cpu"))
    assert fused == {"fused": True}
    oa, ob = make(a.parameters(), lr=1e-3, **kw), make(b.parameters(), lr=1e-3, **kw, **fused)
    for _ in range(10):
        grads = [torch.randn_like(p) for p in a.parameters()]
        for pa, pb, g in zip(a.parameters(), b.parameters(), grads):
            pa.grad, pb.grad = g.clone(), g.clone()
        oa.step()
        ob.step()
    moved = max(float((pa - p0).detach().abs().max()) for pa, p0 in zip(a.parameters(), net.parameters()))
    differ = max(float((pa - pb).detach().abs().max()) for pa, pb in zip(a.parameters(), b.parameters()))
    assert moved > 1e-3 and differ < 1e-6
