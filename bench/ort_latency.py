"""Batch-1 latency of ONNX Runtime fp32 on the RoBERTa-base export of shared/peers/bench_onnx.py, with that
script's session options and ids of the same form (<s> random </s>, no padding; the values do not change the
time); only the latency lines, so that bench/run-latency.sh can alternate it with
`sentimentd bench --latency-only` round after round.
usage: python ort_latency.py PEERS_WORKDIR [LENGTHS...]   (PEERS_WORKDIR holds roberta_fp32.onnx and benchutil.py)
ORT_VARIANT=int8 times the quantize_dynamic model (roberta_int8.onnx) instead (bench/run-int8.sh)."""
import os, sys

work = sys.argv[1]
lengths = [int(x) for x in sys.argv[2:]] or [16, 32]
sys.path.insert(0, work)
import numpy as np
import onnxruntime as ort
from benchutil import timeit

def batch(L):
    ids = np.random.default_rng(L).integers(3, 50265, (1, L), dtype=np.int64)
    ids[:, 0] = 0; ids[:, -1] = 2
    return ids, np.ones((1, L), dtype=np.int64)

so = ort.SessionOptions()
so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
variant = os.environ.get("ORT_VARIANT", "fp32")
sess = ort.InferenceSession(os.path.join(work, f"roberta_{variant}.onnx"), so, providers=["CPUExecutionProvider"])
for L in lengths:
    i, m = batch(L)
    r = timeit(lambda: sess.run(["logits"], {"input_ids": i, "attention_mask": m}), n=30, warmup=5)
    print(f"ort {variant} latency b=1 s={L:4d}: median {r['median']*1e3:8.2f} ms  min {r['min']*1e3:8.2f} ms  other_cores={r['other_cores']:.2f}", flush=True)
