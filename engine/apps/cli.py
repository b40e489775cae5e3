"""The spotdiff command line: a thin shell over the engine.

Exit codes: 0 success, 1 a check of ``spotdiff selftest`` failed, 2 bad input or missing model
(one line, no traceback), 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..analysis.library import FeatureLibrary
from ..errors import Cancelled, SpotdiffError
from ..io.medical import ReadOptions
from ..models.download import pull
from ..models.registry import availability, default_model, get_model_spec, list_models, models_dir
from ..pipeline import DEFAULT_MAX_IMAGES, CompareRequest, compare_steps
from ..synthetic.synth import synth
from .bench.options import add_arguments as add_bench_arguments
from .console import drive, print_summary, write_reports
from .decoder.command import TRAIN_DECODER_HELP, add_train_decoder_arguments, train_decoder_from_args
from .embedded import cluster_module
from .demo import run_demo
from .selftest import TOY_MODEL, selftest, where_am_i


def _add_compare_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="embedding model (see 'spotdiff models'); default: the embedded default")
    p.add_argument("--weights", type=Path, help="weights file or folder for --model, overriding the usual search")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="number format of the CLIP model: auto = bf16 where this CPU runs it natively and it "
                        "agrees with fp32 (cosine >= 0.999), else fp32 (default auto)")
    p.add_argument("--vlm", default=None, metavar="NAME",
                   help="also let this local vision-language model (kind vlm, see 'spotdiff models') propose "
                        "differences in words; they are checked on held-out images like every claim")
    p.add_argument("--decoder", default="auto", metavar="NAME",
                   help="decoder that proposes the statements it learned to rank first (kind decoder, see "
                        "'spotdiff models'; 'spotdiff train-decoder' makes one): auto = the one for --model if "
                        "any, your own first (default); none = no decoder")
    p.add_argument("--out", type=Path, default=None, help="folder for report.json and report.html")
    p.add_argument("--seed", type=int, default=0, help="seed of the discovery / held-out split (default 0)")
    p.add_argument("--alpha", type=float, default=0.05, help="false discovery rate (default 0.05)")
    p.add_argument("--min-effect", type=float, default=0.1,
                   help="held-out effect a finding must reach: AUROC above 0.5 by this much, or for a claim "
                        "about shares, this much more of the claimed set (default 0.1: AUROC >= 0.60, 10 points)")
    p.add_argument("--permutations", type=int, default=200, help="permutations of the separability test")
    p.add_argument("--no-measurements", action="store_true", help="do not compare named image measurements")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--pseudonymise", action="store_true", help="replace file paths in the report with pseudonyms")
    p.add_argument("--frames", choices=("middle", "all"), default="middle",
                   help="multi-frame DICOM: use the middle frame (default) or every frame as its own image")
    p.add_argument("--volume", choices=("middle", "slices", "mip"), default="middle",
                   help="NIfTI volumes and 3-D .npy arrays: the middle slice (default), --slices evenly spaced "
                        "slices, or a maximum-intensity projection, along --axis")
    p.add_argument("--slices", type=int, default=5, help="slices per volume with --volume slices (default 5)")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=2,
                   help="volume axis to slice or project along; NIfTI: 0 sagittal, 1 coronal, 2 axial (default)")
    p.add_argument("--no-regions", action="store_true",
                   help="do not look for small regions that one set's images hold (spotdiff.analysis.regions)")
    p.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES, metavar="N",
                   help=f"analyse at most N images of each set, drawn at random by --seed (default "
                        f"{DEFAULT_MAX_IMAGES:,}; 0: all); the report says when it drew")
    p.add_argument("--no-acquisition", action="store_true",
                   help="do not compare acquisition tags (scanner, protocol, ...) as possible confounders")
    p.add_argument("--no-library", action="store_true",
                   help="do not propose again the features confirmed in your feature library")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotdiff", description="How do two sets of images differ?")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compare", help="compare two image sets and write a report")
    p.add_argument("set_a", type=Path, help="folder (recursive) or image file of set A (with --embeddings: its store)")
    p.add_argument("set_b", type=Path, help="folder (recursive) or image file of set B (with --embeddings: its store)")
    p.add_argument("--embeddings", action="store_true",
                   help="set_a and set_b are embedding stores written by 'spotdiff embed': compare their vectors "
                        "without embedding (the images are read only for pictures, where they still exist)")
    _add_compare_options(p)

    p = sub.add_parser("embed", help="embed an image set into a store of Parquet shards, on a Ray cluster or here "
                                     "(needs the extra spotdiff[cluster])")
    p.add_argument("sources", type=Path, nargs="+", metavar="FOLDER_OR_LIST",
                   help="folder (recursive), image file, text file of paths, or .csv/.parquet manifest with a "
                        "'path' column")
    p.add_argument("--out", type=Path, required=True, help="the store's folder: new, empty, or a store to continue")
    p.add_argument("--model", default=None, help="embedding model (see 'spotdiff models'); default: the embedded default")
    p.add_argument("--weights", type=Path, help="weights file or folder for --model, as every worker sees it")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="number format of the CLIP model (auto: chosen on each worker; the store records it)")
    p.add_argument("--ray", default="auto", metavar="auto|ADDRESS|none",
                   help="auto: a running Ray cluster or a local one (in this process when ray is not installed); "
                        "a cluster's address; none: in this process (default auto)")
    p.add_argument("--actors", type=int, default=None, help="Ray actors (default: as many as the CPUs allow)")
    p.add_argument("--cpus-per-actor", type=float, default=1.0, help="CPUs each actor asks Ray for (default 1)")
    p.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs each actor asks Ray for (default 0)")
    p.add_argument("--shard-size", type=int, default=512, help="files per shard, the unit of resuming (default 512)")
    p.add_argument("--keep-pixels", action="store_true",
                   help="keep a lossless copy of each image, shrunk to fit --pixel-side, in the store, so that "
                        "compare --embeddings finds small regions and re-plants causes where the files cannot be "
                        "read (~20-100 kB an image)")
    p.add_argument("--pixel-side", type=int, default=256, metavar="SIDE",
                   help="with --keep-pixels: the copies fit SIDE x SIDE pixels (default 256; never enlarged)")
    p.add_argument("--frames", choices=("middle", "all"), default="middle", help="as for compare")
    p.add_argument("--volume", choices=("middle", "slices", "mip"), default="middle", help="as for compare")
    p.add_argument("--slices", type=int, default=5, help="as for compare")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=2, help="as for compare")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("demo", help="make two procedural sets with a planted difference and compare them")
    p.add_argument("--out", type=Path, default=Path("spotdiff-demo"), help="folder for the sets and the report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("synth", help="write a test pair of image sets with planted differences and truth.json")
    p.add_argument("--out", type=Path, required=True, help="folder for set_a/, set_b/ and truth.json")
    p.add_argument("--from", dest="source", type=Path, default=None,
                   help="split this folder of your own images into A and B (read only) instead of drawing scenes")
    p.add_argument("--plant", action="append", default=[], metavar="EDIT[:STRENGTH]",
                   help="edit applied to set B, strength in (0, 1] (default 0.5); repeat for several. "
                        "Edits: rectangles, shape-watermark, text-watermark, warm, cool, brighter, darker, blur, "
                        "noise, jpeg, lowres, downscale, vignette, rotate")
    p.add_argument("--prevalence", type=float, default=1.0, help="fraction of set B that gets the edits")
    p.add_argument("-n", "--n-per-set", type=int, default=50, help="images per set (default 50)")
    p.add_argument("--size", type=int, default=128, help="image size in pixels (longer side with --from)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("bench", help="the planted-difference benchmark: spotdiff and baselines on known differences")
    add_bench_arguments(p, Path("spotdiff-bench"))

    p = sub.add_parser("train-decoder", help="train a decoder that says what a learned difference is, on comparisons "
                                             "with known answers; with --images, on edits planted into your images",
                       description=TRAIN_DECODER_HELP)
    add_train_decoder_arguments(p)

    p = sub.add_parser("selftest", help="load every component (CLIP, faiss, scikit-learn, llama.cpp, the desktop "
                                        "window) and run a tiny comparison; exit 0 if all work")
    p.add_argument("--model", default=None, help="embedding model to check (default: the toy model that ships inside)")
    p.add_argument("--no-desktop", action="store_true", help="do not open the desktop app's window")

    p = sub.add_parser("models", help="list models and whether they are available here; pull one")
    msub = p.add_subparsers(dest="models_command")
    pull = msub.add_parser("pull", help="download a model's weights from the Hugging Face hub")
    pull.add_argument("name")
    return parser


def cmd_embed(args) -> int:
    cluster = cluster_module("'spotdiff embed'")
    request = cluster.EmbedRequest(
        sources=tuple(args.sources), out=args.out, model=args.model, weights=args.weights, precision=args.precision,
        ray=args.ray, n_actors=args.actors, cpus_per_actor=args.cpus_per_actor, gpus_per_actor=args.gpus_per_actor,
        shard_size=args.shard_size, keep_pixels=args.pixel_side if args.keep_pixels else 0,
        read_options=ReadOptions(frames=args.frames, volume=args.volume, n_slices=args.slices, axis=args.axis))
    summary = drive(cluster.embed_steps(request), args.quiet)
    print(f"{summary.store}: {summary.n_images} images from {summary.n_files} files in {summary.n_shards} shards "
          f"({summary.executor})")
    print(f"  this run: {summary.n_shards_done} shards, {summary.n_embedded} images embedded in {summary.seconds:.1f} s"
          f" ({summary.rate:.1f} img/s); {summary.n_shards_before} shards were already done")
    if summary.skipped:
        print(f"  {len(summary.skipped)} file(s) skipped:")
        for f in summary.skipped[:20]:
            print(f"    {f.path}: {f.reason}")
        if len(summary.skipped) > 20:
            print(f"    ... and {len(summary.skipped) - 20} more (column skip_reason of the shards)")
    return 0


def cmd_compare(args) -> int:
    if args.embeddings:
        return _compare_stores(args)
    read_options = ReadOptions(frames=args.frames, volume=args.volume, n_slices=args.slices, axis=args.axis)
    request = CompareRequest(
        set_a=(args.set_a,), set_b=(args.set_b,), model=args.model or default_model(), weights=args.weights, precision=args.precision,
        measurements=not args.no_measurements, seed=args.seed, alpha=args.alpha, min_effect=args.min_effect,
        n_permutations=args.permutations, use_cache=not args.no_cache, vlm=args.vlm, decoder=args.decoder,
        read_options=read_options, acquisition=not args.no_acquisition, regions=not args.no_regions,
        max_images=args.max_images,
    )
    with FeatureLibrary() as library:  # the user's confirmed features are proposed again
        result = drive(compare_steps(request, library=None if args.no_library else library), args.quiet)
    out = args.out or Path("spotdiff-report")
    write_reports(result, out, pseudonymise=args.pseudonymise)
    print_summary(result, out)
    return 0


def _compare_stores(args) -> int:
    cluster = cluster_module("'spotdiff compare --embeddings'")
    options = dict(model=args.model, weights=args.weights, precision=args.precision, vlm=args.vlm,
                   measurements=not args.no_measurements, seed=args.seed, alpha=args.alpha, min_effect=args.min_effect,
                   n_permutations=args.permutations, use_cache=not args.no_cache,
                   acquisition=not args.no_acquisition, regions=not args.no_regions, max_images=args.max_images)
    if options["weights"] is None:
        del options["weights"]  # the stores' own
    with FeatureLibrary() as library:
        result = drive(cluster.compare_store_steps(args.set_a, args.set_b, library=None if args.no_library else library,
                                                   **options), args.quiet)
    out = args.out or Path("spotdiff-report")
    write_reports(result, out, pseudonymise=args.pseudonymise)
    print_summary(result, out)
    return 0


def cmd_demo(args) -> int:
    return run_demo(args.out, quiet=args.quiet)


def cmd_synth(args) -> int:
    out = drive(synth(args.out, plants=args.plant, prevalence=args.prevalence, n_per_set=args.n_per_set,
                      source=args.source, seed=args.seed, image_size=args.size), args.quiet)
    print(f"wrote {out / 'set_a'}, {out / 'set_b'} and {out / 'truth.json'}")
    return 0


def cmd_models(args) -> int:
    if args.models_command == "pull":
        path = drive(pull(get_model_spec(args.name)))
        print(f"{args.name}: weights ready at {path}")
        return 0
    rows = []
    for spec in list_models():
        ok, where = availability(spec)
        if not ok:  # the full search list is in the error a compare would raise; here, the fix
            where = f"run 'spotdiff models pull {spec.name}' or put {spec.filename} in {models_dir() / spec.name}"
        size = "" if not spec.size_bytes else (f"{spec.size_bytes / 1e6:,.0f} MB" if spec.size_bytes >= 1e6
                                               else f"{spec.size_bytes / 1e3:,.1f} kB")
        rows.append((spec.name, spec.kind, "yes" if ok else "no", size, where))
    header = ("name", "kind", "here", "size", "where / how to get it")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r[:4], widths)) + "  " + r[4])
    return 0


def cmd_bench(args) -> int:
    from .bench.run import run_from_args  # lazy: its baselines import scipy.stats (~0.5 s), which only bench needs

    return run_from_args(args)


def cmd_selftest(args) -> int:
    print(where_am_i(), flush=True)

    def show(r) -> None:
        print(f"  {'ok  ' if r.ok else 'FAIL'}  {r.name:<13} {r.detail}  ({r.seconds:.1f} s)", flush=True)
        if r.trace:
            print(r.trace, file=sys.stderr, flush=True)

    results = selftest(args.model or TOY_MODEL, desktop=not args.no_desktop, on_result=show)
    failed = [r.name for r in results if not r.ok]
    seconds = sum(r.seconds for r in results)
    if failed:
        print(f"selftest FAILED: {', '.join(failed)} ({len(results) - len(failed)} of {len(results)} checks passed)")
        return 1
    print(f"selftest passed: {len(results)} of {len(results)} checks in {seconds:.1f} s")
    return 0


COMMANDS = {"compare": cmd_compare, "embed": cmd_embed, "demo": cmd_demo, "synth": cmd_synth, "models": cmd_models,
            "bench": cmd_bench, "selftest": cmd_selftest, "train-decoder": train_decoder_from_args}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Cancelled:
        print("spotdiff: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("spotdiff: cancelled", file=sys.stderr)
        return 130
    except SpotdiffError as e:
        print(f"spotdiff: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
