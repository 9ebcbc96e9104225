"""Torch eager vs ONNX Runtime for the demo zoo's cell-level models on one patient's worth of crops (CPU, 2 threads).

    pip install onnxruntime==1.32.0 onnx==1.23.2   # not a dependency: measured, not adopted (docs/BENCHMARKS.md)
    python benchmarks/onnx_runtime.py

Each model's probability and features (one graph, as ``CNNClassifier._run(x, "both")``) on 93 random 32-px crops
(AlexNet 64 px), median of 15 warm runs; the largest difference in P(PD) between the two runtimes is printed.
"""
import copy
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
try:
    import onnxruntime as ort
except ImportError:
    sys.exit("ONNX Runtime is not installed (it is not a dependency): pip install onnxruntime==1.32.0 onnx==1.23.2")
from zoo.api import Zoo
from zoo.preprocess import normalize
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
zoo = Zoo.load(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/demo/zoo"))
def med(fn, n=15):
    fn(); ts=[]
    for _ in range(n):
        t=time.perf_counter(); fn(); ts.append(time.perf_counter()-t)
    return 1000*np.median(ts)
so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
tot_t = tot_o = 0
for name in [n for n in zoo.model_names if zoo.manifest["models"][n]["family"] == "cell"]:
    est = zoo.model(name)
    m = est
    while not hasattr(m, "net_"):
        m = getattr(m, "estimator", None) or getattr(m, "members")[0]
    net = copy.deepcopy(m.net_).float().eval()
    s = m.image_size
    x = normalize(torch.randint(0, 256, (93, 3, s, s), dtype=torch.uint8))
    class Both(torch.nn.Module):
        def __init__(self, n): super().__init__(); self.n = n
        def forward(self, x):
            e = self.n.embed(x); return torch.softmax(self.n.head(e), 1)[:, 1], e
    both = Both(net).eval()
    with torch.inference_mode():
        tt = med(lambda: both(x.contiguous(memory_format=torch.channels_last)))
    buf = io.BytesIO()
    torch.onnx.export(both, (x[:2],), buf, input_names=["x"], output_names=["p", "e"],
                      dynamic_axes={"x": {0: "n"}, "p": {0: "n"}, "e": {0: "n"}}, dynamo=False, opset_version=17)
    sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    to = med(lambda: sess.run(None, {"x": xn}))
    p_ort = sess.run(None, {"x": xn})[0]
    with torch.inference_mode():
        p_t = both(x)[0].numpy()
    tot_t += tt; tot_o += to
    print(f"{name:28s} torch {tt:7.1f} ms  onnxruntime {to:7.1f} ms  max |dp| {np.abs(p_ort-p_t).max():.2e}", flush=True)
print(f"five cell models, 93 crops: torch {tot_t:.0f} ms, onnxruntime {tot_o:.0f} ms")
