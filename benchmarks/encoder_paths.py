"""Ways to run the CLIP image tower on this CPU: img/s and agreement with fp32, as a Markdown table.

    .venv/bin/python benchmarks/encoder_paths.py [--models ViT-B-32,toy-shapes] [--repeats 5] [--paths all]

Every path encodes the same preprocessed 640x480 JPEG scenes (as spotdiff decodes them) with the model's
image tower. For each: the median img/s over ``--repeats`` rounds (each round times every path once, in
turn, so that other work on the machine weighs on all alike), its ratio to spotdiff's current path
(bf16 eager, batch 32, under inference_mode), the lowest cosine between its embeddings and the fp32
model's (>= 0.999 to be usable), and notes (one-off cost such as compile time). Paths whose package is
absent (onnxruntime, openvino) are listed with the reason. ViT-B-32 has random weights (speed does not
depend on their values); toy-shapes is the bundled ResNet CLIP.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_line, make_jpegs, random_vit_b32, records, table  # noqa: E402

from spotdiff.models.factory import open_embedder  # noqa: E402

BATCH = 32  # spotdiff's batch size
MIN_COSINE = 0.999


class Skipped(Exception):
    """A path that cannot run here (a package is absent, the model has no such part); the message says why."""


@dataclass
class Runner:
    """One way to encode: ``encode(pixels fp32) -> features``, at ``batch`` images per call."""

    encode: Callable[[torch.Tensor], torch.Tensor]
    batch: int = BATCH
    notes: list[str] = field(default_factory=list)


def _eager(visual: torch.nn.Module, dtype: torch.dtype, batch: int = BATCH, channels_last: bool = False) -> Runner:
    model = copy.deepcopy(visual).to(dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    def encode(x: torch.Tensor) -> torch.Tensor:
        x = x.to(dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return model(x)

    return Runner(encode, batch)


def path_fp32(visual, example) -> Runner:
    return _eager(visual, torch.float32)


def path_current(visual, example) -> Runner:
    return _eager(visual, torch.bfloat16)


def path_batch(size: int):
    def build(visual, example) -> Runner:
        return _eager(visual, torch.bfloat16, batch=size)
    return build


def path_channels_last(visual, example) -> Runner:
    if not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size != m.stride for m in visual.modules()):
        raise Skipped("no convolutions beyond the patch embedding (a transformer tower)")
    return _eager(visual, torch.bfloat16, channels_last=True)


def _sdpa_forward(block) -> Callable:
    """A ResidualAttentionBlock.attention that calls F.scaled_dot_product_attention itself."""
    attn = block.attn
    heads = attn.num_heads

    def attention(q_x, k_x=None, v_x=None, attn_mask=None):
        if k_x is not None or v_x is not None or attn_mask is not None:
            raise Skipped("cross-attention or a mask in the image tower")
        n, length, width = q_x.shape
        qkv = torch.nn.functional.linear(q_x, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(n, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return attn.out_proj(out.transpose(1, 2).reshape(n, length, width))

    return attention


def path_sdpa(visual, example) -> Runner:
    model = copy.deepcopy(visual).to(torch.bfloat16)
    blocks = [m for m in model.modules() if type(m).__name__ == "ResidualAttentionBlock"]
    if not blocks:
        raise Skipped("no transformer blocks (a ResNet tower)")
    if not all(getattr(b.attn, "batch_first", False) and b.attn._qkv_same_embed_dim for b in blocks):
        raise Skipped("attention is not batch-first with one in-projection")
    for block in blocks:
        block.attention = _sdpa_forward(block)
    return Runner(lambda x: model(x.to(torch.bfloat16)))


def path_jit_freeze(visual, example) -> Runner:
    model = copy.deepcopy(visual).to(torch.bfloat16).eval()
    start = time.perf_counter()
    with torch.no_grad():
        traced = torch.jit.freeze(torch.jit.trace(model, example.to(torch.bfloat16), check_trace=False))
        traced(example.to(torch.bfloat16))  # the first runs optimise the graph
        traced(example.to(torch.bfloat16))
    return Runner(lambda x: traced(x.to(torch.bfloat16)), notes=[f"trace+freeze {time.perf_counter() - start:.1f} s"])


def path_jit_optimize(visual, example) -> Runner:
    model = copy.deepcopy(visual).to(torch.bfloat16).eval()
    start = time.perf_counter()
    with torch.no_grad():
        traced = torch.jit.optimize_for_inference(torch.jit.trace(model, example.to(torch.bfloat16),
                                                                  check_trace=False))
        traced(example.to(torch.bfloat16))
        traced(example.to(torch.bfloat16))
    return Runner(lambda x: traced(x.to(torch.bfloat16)),
                  notes=[f"trace+optimize_for_inference {time.perf_counter() - start:.1f} s"])


def _compiled(visual, example, freezing: bool) -> Runner:
    import torch._inductor.config as inductor_config  # lazy: only this path needs inductor

    torch._dynamo.reset()
    inductor_config.freezing = freezing
    model = copy.deepcopy(visual).to(torch.bfloat16).eval()
    compiled = torch.compile(model, dynamic=False)
    start = time.perf_counter()
    with torch.inference_mode():  # as it will run: a change of grad mode would compile again
        compiled(example.to(torch.bfloat16))
    seconds = time.perf_counter() - start
    return Runner(lambda x: compiled(x.to(torch.bfloat16)), notes=[f"compile {seconds:.1f} s (first batch)"])


def path_compile(visual, example) -> Runner:
    return _compiled(visual, example, freezing=False)


def path_compile_freezing(visual, example) -> Runner:
    return _compiled(visual, example, freezing=True)


def _onnx_file(visual, example, folder: Path) -> Path:
    path = folder / f"{type(visual).__name__}-{example.shape[-1]}.onnx"
    model = copy.deepcopy(visual).float().eval()
    torch.onnx.export(model, (example,), str(path), input_names=["pixels"], output_names=["features"],
                      dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}}, opset_version=17, dynamo=False)
    return path


def path_onnxruntime(visual, example) -> Runner:
    try:
        import onnxruntime as ort  # lazy: optional, only for this benchmark
    except ImportError as e:
        raise Skipped(f"onnxruntime is not installed ({e}); pip install -c constraints.txt onnxruntime") from None
    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="spotdiff-onnx-"))
    path = _onnx_file(visual, example, folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    seconds = time.perf_counter() - start

    def encode(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"pixels": x.float().numpy()})[0])

    return Runner(encode, notes=[f"fp32 (no bf16 kernels on CPU), export+load {seconds:.1f} s, ort {ort.__version__}"])


def _openvino_runner(visual, example, requests: int | None) -> Runner:
    try:
        import openvino as ov  # lazy: optional, only for this benchmark
    except ImportError as e:
        raise Skipped(f"openvino is not installed ({e}); pip install -c constraints.txt openvino") from None
    start = time.perf_counter()
    # through ONNX: OpenVINO's own tracing of open_clip's ViT fails ("Couldn't get TorchScript module")
    converted = ov.convert_model(str(_onnx_file(visual, example, Path(tempfile.mkdtemp(prefix="spotdiff-ov-")))))
    converted.reshape({0: [BATCH, *example.shape[1:]]})
    hint = "LATENCY" if requests == 1 else "THROUGHPUT"
    compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "bf16",
                                                          "PERFORMANCE_HINT": hint})
    n_requests = requests or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, n_requests)
    seconds = time.perf_counter() - start

    def encode(x: torch.Tensor) -> torch.Tensor:
        x = x.float().numpy()
        parts: dict[int, np.ndarray] = {}
        queue.set_callback(lambda request, i: parts.__setitem__(i, request.get_output_tensor(0).data.copy()))
        for i in range(0, len(x), BATCH):
            chunk = x[i:i + BATCH]
            if len(chunk) < BATCH:  # the compiled shape is fixed: pad the last chunk
                chunk = np.concatenate([chunk, np.zeros((BATCH - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            queue.start_async({0: chunk}, i)
        queue.wait_all()
        return torch.from_numpy(np.concatenate([parts[i] for i in sorted(parts)])[:len(x)])

    notes = [f"bf16 hint, {hint}, {n_requests} async request(s) of {BATCH}, convert+compile {seconds:.1f} s, "
             f"openvino {ov.__version__}"]
    # the queue takes several batches at once, so that its requests run side by side
    return Runner(encode, batch=BATCH * n_requests, notes=notes)


def path_openvino_async(visual, example) -> Runner:
    return _openvino_runner(visual, example, requests=None)


def path_openvino_sync(visual, example) -> Runner:
    return _openvino_runner(visual, example, requests=1)


PATHS: dict[str, Callable] = {
    "fp32 eager": path_fp32,
    "bf16 eager, batch 32 (current)": path_current,
    "bf16 eager, batch 16": path_batch(16),
    "bf16 eager, batch 64": path_batch(64),
    "bf16 eager, batch 128": path_batch(128),
    "bf16 channels-last": path_channels_last,
    "bf16 SDPA attention": path_sdpa,
    "bf16 jit.trace + freeze": path_jit_freeze,
    "bf16 jit.trace + optimize_for_inference": path_jit_optimize,
    "bf16 torch.compile (inductor)": path_compile,
    "bf16 torch.compile (inductor, freezing)": path_compile_freezing,
    "ONNX Runtime fp32": path_onnxruntime,
    "OpenVINO bf16, async requests": path_openvino_async,
    "OpenVINO bf16, 1 request": path_openvino_sync,
}
CURRENT = "bf16 eager, batch 32 (current)"


def encode_all(runner: Runner, pixels: torch.Tensor) -> torch.Tensor:
    """Features of every image, ``runner.batch`` at a time."""
    with torch.inference_mode():
        return torch.cat([runner.encode(pixels[i:i + runner.batch]).float()
                          for i in range(0, len(pixels), runner.batch)])


def timed_rounds(runners: dict[str, Runner], pixels: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median img/s of each runner, timed in ``repeats`` rounds that run every runner once in turn, so that
    other work on the machine slows every path alike rather than whichever ran while it did."""
    rates: dict[str, list[float]] = {path: [] for path in runners}
    for _ in range(repeats):
        for path, runner in runners.items():
            start = time.perf_counter()
            encode_all(runner, pixels)
            rates[path].append(len(pixels) / (time.perf_counter() - start))
    return {path: statistics.median(r) for path, r in rates.items()}


def model_pixels(name: str, work: Path, n: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The fp32 image tower of ``name`` and ``n`` JPEG scenes preprocessed as spotdiff does."""
    weights = random_vit_b32(work) if name == "ViT-B-32" else None
    embedder = open_embedder(name, weights=weights, precision="fp32")
    paths = make_jpegs(work / "jpeg640", n)
    pixels = torch.stack([embedder._pixels(r, embedder._transform) for r in records(paths)])
    return embedder._ensure_loaded().visual.eval(), pixels


def bench_model(name: str, work: Path, n: int, repeats: int, chosen: list[str]) -> list[list[str]]:
    """Table rows for every chosen path on one model."""
    visual, pixels = model_pixels(name, work, n)
    example = pixels[:BATCH]
    reference = encode_all(path_fp32(visual, example), pixels)
    runners, results = {}, {}
    for path in [CURRENT] + [p for p in chosen if p != CURRENT]:
        try:
            runner = PATHS[path](visual, example)
            features = encode_all(runner, pixels)  # warm-up, and the embeddings to compare
        except Skipped as e:
            results[path] = {"skipped": str(e)}
        except Exception as e:  # noqa: BLE001 - a path that fails is a result too
            results[path] = {"skipped": f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"}
        else:
            runners[path] = runner
            cosine = float(torch.nn.functional.cosine_similarity(features, reference, dim=-1).min())
            results[path] = {"cosine": cosine, "notes": runner.notes}
        print(f"  {name}: {path}: {results[path]}", file=sys.stderr, flush=True)
    for path, rate in timed_rounds(runners, pixels, repeats).items():
        results[path]["rate"] = rate
    current = results[CURRENT]["rate"]
    rows = []
    for path, r in results.items():
        if "skipped" in r:
            rows.append([path, name, "–", "–", "–", r["skipped"]])
            continue
        usable = "" if r["cosine"] >= MIN_COSINE else f" (below {MIN_COSINE}: not usable)"
        rows.append([path, name, f"{r['rate']:.1f}", f"{r['rate'] / current:.2f}x", f"{r['cosine']:.5f}{usable}",
                     "; ".join(r["notes"])])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="ViT-B-32,toy-shapes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-vit", type=int, default=128, help="images per run for ViT-B-32")
    parser.add_argument("--n-small", type=int, default=256, help="images per run for other models")
    parser.add_argument("--paths", default="all", help="path names separated by semicolons (see PATHS), or all")
    args = parser.parse_args()
    chosen = list(PATHS) if args.paths == "all" else [p.strip() for p in args.paths.split(";")]
    unknown = [p for p in chosen if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {unknown}; expected names from: {', '.join(PATHS)}")
    work = Path(tempfile.gettempdir()) / "spotdiff-bench"
    rows = []
    for name in args.models.split(","):
        n = args.n_vit if name == "ViT-B-32" else args.n_small
        rows += bench_model(name, work, n, args.repeats, chosen)
    print(f"{cpu_line()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats} interleaved rounds; cosine: lowest over the images, against fp32 eager")
    print(table(["path", "model", "img/s (median)", "ratio to current", "min cosine to fp32", "notes"], rows))


if __name__ == "__main__":
    main()
