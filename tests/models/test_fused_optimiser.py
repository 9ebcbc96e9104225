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


# the zoo's betas; weight decay far above the zoo's 1e-4 so that a kernel applying it differently cannot hide
# under the tolerance (the positive control below shows it moves the parameters by far more)
@pytest.mark.parametrize("opt_name, kw", [("Adam", {"betas": (0.85, 0.995), "weight_decay": 0.1}),
                                          ("AdamW", {"weight_decay": 0.1})])
def test_the_fused_update_is_the_per_tensor_loops(opt_name, kw):
    from zoo.models.cnn import fused_optimiser
    from zoo.models.networks import build_network

    torch.manual_seed(0)
    net, _ = build_network("resnet18", 0.3)
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    make = getattr(torch.optim, opt_name)
    fused = fused_optimiser(torch.device("cpu"))
    assert fused == {"fused": True}
    c = copy.deepcopy(net)  # the loop without weight decay: what the decay alone changes
    oa, ob = make(a.parameters(), lr=1e-3, **kw), make(b.parameters(), lr=1e-3, **kw, **fused)
    oc = make(c.parameters(), lr=1e-3, **{**kw, "weight_decay": 0.0})
    for _ in range(10):
        grads = [torch.randn_like(p) for p in a.parameters()]
        for pa, pb, pc, g in zip(a.parameters(), b.parameters(), c.parameters(), grads):
            pa.grad, pb.grad, pc.grad = g.clone(), g.clone(), g.clone()
        oa.step()
        ob.step()
        oc.step()

    def largest(x, y):
        return max(float((p - q).detach().abs().max()) for p, q in zip(x.parameters(), y.parameters()))

    assert largest(a, net) > 1e-3
    assert largest(a, c) > 100 * 1e-6, "the weight decay moves the parameters far beyond the tolerance"
    assert largest(a, b) < 1e-6
