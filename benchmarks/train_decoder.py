"""Train a shipped decoder (for toy-shapes, or for the measurements alone) and measure it: the training curve,
held-out accuracy beside single numbers a decoder could rank by (VisDiff's mean-difference cosine among them), by
source and share, and a leave-attributes-out evaluation.

    python benchmarks/train_decoder.py                       # 1500 training + 300 held-out episodes, ships it
    python benchmarks/train_decoder.py --episodes 200 --heldout 100 --no-ship     # a quick look
    python benchmarks/train_decoder.py --model measurements --episodes 1200 --heldout 300

Episodes are drawn with the model's mix (spotdiff.apps.decoder.episodes.mix_for: for the measurements, only the
edits a measurement names), embedded once and kept in --work (default: the spotdiff cache folder), in files named
by the model, so a second run with other training settings re-uses them. Writes engine/model_weights/decoder-MODEL/
and engine/model_configs/decoder-MODEL.json (unless --no-ship) and benchmarks/results/decoder.md and
decoder_curve.svg (toy-shapes) or decoder-MODEL.md and decoder-MODEL_curve.svg (another model).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from _common import cpu_line, table
from spotdiff.analysis.decoder import FEATURES, Decoder, top1_accuracy
from spotdiff.apps.decoder.episodes import draw_specs, embed_episodes, mix_for, to_examples
from spotdiff.apps.decoder.training import CURVE_POINTS, Trained, chance_level, curve_svg, spaces_for, write_decoder
from spotdiff.models.embedders.base import TextEmbedder
from spotdiff.models.embedding import TextMemo
from spotdiff.models.host import ModelHost
from spotdiff.models.paths import cache_dir
from spotdiff.progress import run

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "toy-shapes"  # the default: its results are decoder.md and decoder_curve.svg
# withheld from training in turn, each scored on held-out episodes that plant it (edits only for the measurements:
# their episodes plant nothing else)
LEAVE_OUT = {MODEL: ("colour", "shape", "background", "edit:blur", "edit:rectangles", "edit:warm"),
             "measurements": ("edit:blur", "edit:warm", "edit:darker", "edit:noise", "edit:jpeg")}
BREAKDOWN_WORDS = {MODEL: "what was planted first, its share of B, and the number of differences",
                   "measurements": "source, the edit planted, and its share of B"}


CHUNK = 50  # episodes per file of --work: a longer run re-uses a shorter one's episodes


def drawn(n: int, seed: int, work: Path, embedders, model: str = MODEL) -> tuple[list, float]:
    """Episodes 0..n-1 of ``seed`` with ``model``'s mix, drawn and embedded, CHUNK at a time, each chunk kept in
    ``work`` under a name with the model's; and the seconds drawing and embedding them took (when they were made,
    kept in work/timings.json)."""
    out, seconds = [], 0.0
    timings_file = work / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        path = work / f"episodes-{model}-seed{seed}-{start}-{start + count}.pkl"
        if not path.is_file():
            clock = time.perf_counter()
            chunk = run(embed_episodes(draw_specs(count, seed=seed, start=start, **mix_for(model)), embedders))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(chunk))
            timings[path.name] = round(time.perf_counter() - clock, 1)
            timings_file.write_text(json.dumps(timings, indent=1))
            print(f"episodes {start}-{start + count} of seed {seed}: {timings[path.name]:.0f} s", flush=True)
        seconds += timings.get(path.name, float("nan"))
        out.extend(pickle.loads(path.read_bytes()))
    return out, seconds


def results_stem(model: str) -> str:
    """The name of the results files: decoder (toy-shapes, as before the measurements' decoder), or decoder-MODEL."""
    return "decoder" if model == MODEL else f"decoder-{model}"


def mix_words(model: str) -> str:
    """What the model's episodes are, for the report and the shipped entry's description."""
    if model == MODEL:
        return "the procedural world and of photographs with planted differences"
    return (f"photographs and of the procedural world with one planted edit that a measurement names "
            f"({', '.join(mix_for(model)['edits'])}), sets A and B drawn alike otherwise")


def candidates_words(model: str, n: int) -> str:
    if model == MODEL:
        return (f"{n} candidate claims x 3 share bins per episode (fewer where the images are outside toy-shapes' "
                "domain and only the measurements are read)")
    return (f"episodes of {mix_words(model)}; {n} candidate claims (every measurement, higher or lower in B) x 3 "
            "share bins per episode")


def breakdown_keys(spec, model: str) -> tuple[str, ...]:
    """The rows of the by-episode table an episode counts in."""
    if model == MODEL:
        kind = spec.tags[0].split(":")[0]  # an attribute kind, or "edit"
        return (f"{spec.source}: {kind}", f"share {round(100 * spec.shares[0])} %",
                f"{len(spec.planted)} difference(s)")
    return (f"source: {spec.source}", spec.tags[0], f"share {round(100 * spec.shares[0])} %")


def description(model: str, reads, n_train: int, top1: float, top1_claim: float) -> str:
    """The shipped registry entry's description."""
    whose = " and the ".join(reads) if len(reads) > 1 else f"the {model} alone"
    return (f"spotdiff's decoder for {whose}: ranks the statements a comparison could make from the discovery "
            f"half's numbers; trained on {n_train} episodes of {mix_words(model)} (benchmarks/train_decoder.py); "
            f"held-out top-1 {top1:.2f} of the full statement, {top1_claim:.2f} of the claim.")


def picks(examples, column: str) -> float:
    """Top-1 (claim and set) of ranking every candidate by one number."""
    k = FEATURES.index(column)
    return float(np.mean([e.positive[int(np.argmax(e.candidates.X[:, k]))] for e in examples]))


def plants(spec, withheld: str) -> bool:
    """Does the episode plant ``withheld`` (an attribute kind such as "colour", or "edit:NAME")?"""
    return any(t == withheld or t.split(":")[0] == withheld for t in spec.tags)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=1500)
    p.add_argument("--heldout", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--work", type=Path, default=cache_dir() / "decoder-episodes")
    p.add_argument("--no-ship", action="store_true", help="do not write the shipped decoder")
    p.add_argument("--model", default=MODEL, choices=tuple(LEAVE_OUT),
                   help=f"the model whose decoder is trained (default {MODEL}); measurements: the decoder that "
                        "reads the measurements alone")
    args = p.parse_args(argv)
    model, reads = args.model, spaces_for(args.model)
    print(cpu_line(), flush=True)
    clock = time.perf_counter()
    host = ModelHost()
    embedders = {name: host.embedder(name) for name in reads}
    texts = {name: TextMemo(e) for name, e in embedders.items() if isinstance(e, TextEmbedder)}
    train_drawn, train_s_drawn = drawn(args.episodes, args.seed, args.work, embedders, model)
    test_drawn, test_s_drawn = drawn(args.heldout, args.seed + 1, args.work, embedders, model)
    clock = time.perf_counter()
    train = to_examples(train_drawn, embedders, texts)
    test = to_examples(test_drawn, embedders, texts)
    features_s = time.perf_counter() - clock

    clock = time.perf_counter()
    curve = []
    for share in CURVE_POINTS:
        n = max(8, round(share * len(train)))
        decoder = Decoder(seed=args.seed).fit(train[:n], epochs=args.epochs)
        curve.append((n, top1_accuracy(decoder, test)[0] / len(test)))
        print(f"trained on {n} episodes: held-out top-1 {curve[-1][1]:.3f}", flush=True)
    train_s = time.perf_counter() - clock
    hits, total = top1_accuracy(decoder, test)
    hits_claim, _ = top1_accuracy(decoder, test, with_share=False)
    chance = chance_level(test)
    p_value = stats.binomtest(hits, total, chance, alternative="greater").pvalue
    visdiff_hits = round(picks(test, "mean_cosine") * total)
    # is the decoder's claim-level top-1 better than the mean-difference cosine's, episode for episode?
    pairs_won = [(e.positive[int(np.argmax(decoder.scores(e.candidates.X)))],
                  e.positive[int(np.argmax(e.candidates.X[:, FEATURES.index("mean_cosine")]))]) for e in test]
    only_decoder = sum(a and not b for a, b in pairs_won)
    only_visdiff = sum(b and not a for a, b in pairs_won)
    sign_p = stats.binomtest(only_decoder, only_decoder + only_visdiff, 0.5, alternative="greater").pvalue
    decoder.info.update({"model": model, "reads": list(reads), "episodes": len(train), "seed": args.seed,
                         **{k: list(v) for k, v in mix_for(model).items()}, "heldout_top1": round(hits / total, 4)})
    trained = Trained(decoder, reads, len(train), len(test), hits / total, hits_claim / total, tuple(curve))

    nameable = [e for e in test if e.positive.any()]
    rows = [["decoder (statement: claim, set and share bin)", f"{hits / total:.3f}"],
            ["decoder (claim and set)", f"{hits_claim / total:.3f}"],
            [f"decoder (claim and set), the {len(nameable)} episodes whose plant some statement names",
             f"{top1_accuracy(decoder, nameable, with_share=False)[0] / max(len(nameable), 1):.3f}"]]
    for column, title in (("mean_cosine", "mean-difference cosine (VisDiff-style)"),
                          ("effect", "discovery AUROC (the concept bank's order)"),
                          ("joint_weight", "joint ridge weight"), ("probe_cosine", "probe-weight cosine")):
        rows.append([f"rank by {title} (claim and set)", f"{picks(test, column):.3f}"])
    by = defaultdict(list)
    for d, e in zip(test_drawn, test):
        i = int(np.argmax(decoder.scores(e.candidates.X)))
        j = int(np.argmax(e.candidates.X[:, FEATURES.index("mean_cosine")]))
        for key in breakdown_keys(d.spec, model):
            by[key].append((e.positive[i], e.positive[j]))
    breakdown = [[k, len(v), f"{np.mean([a for a, _ in v]):.2f}", f"{np.mean([b for _, b in v]):.2f}"]
                 for k, v in sorted(by.items())]

    leave = []
    pairs = list(zip([d.spec for d in train_drawn], train))
    for withheld in LEAVE_OUT[model]:
        kept = [e for spec, e in pairs if not plants(spec, withheld)]
        scored = [e for d, e in zip(test_drawn, test) if plants(d.spec, withheld)]
        if not scored:
            continue
        held = Decoder(seed=args.seed).fit(kept, epochs=args.epochs)
        h, n = top1_accuracy(held, scored, with_share=False)
        full, _ = top1_accuracy(decoder, scored, with_share=False)
        leave.append([withheld, len(train) - len(kept), n, f"{h / n:.2f}", f"{full / n:.2f}",
                      f"{picks(scored, 'mean_cosine'):.2f}"])

    text = "\n".join([
        f"# The decoder for {model}", "", cpu_line(), "",
        f"{len(train)} training episodes (seed {args.seed}), {len(test)} held-out episodes from unseen seeds "
        f"(seed {args.seed + 1}); {candidates_words(model, len(train[0].candidates))}. "
        f"Drawing and embedding the training episodes took {train_s_drawn / 60:.1f} min, the held-out ones "
        f"{test_s_drawn / 60:.1f} min (when they were made, beside other work; kept in --work since), reading "
        f"them into the decoder's numbers {features_s:.0f} s, training (every point of the curve) {train_s:.0f} s: "
        f"{(train_s_drawn + features_s + train_s / len(CURVE_POINTS)) / 60:.0f} min for the shipped decoder "
        "from nothing.", "",
        f"Held-out top-1: {hits}/{total}; the most true statements an episode has among its statements is "
        f"{chance:.4f} of them (chance), binomial p = {p_value:.1e}.", "",
        table(["ranker", "held-out top-1"], rows), "",
        f"Against the mean-difference cosine, episode by episode: the decoder alone right in {only_decoder}, the "
        f"cosine alone in {only_visdiff} (sign test p = {sign_p:.1e}; the cosine's top-1 {visdiff_hits}/{total}).",
        "",
        f"By {BREAKDOWN_WORDS.get(model, BREAKDOWN_WORDS[MODEL])} (decoder vs mean-difference cosine, claim and "
        "set):", "",
        table(["episodes", "n", "decoder", "mean-difference cosine"], breakdown), "",
        "Leave-attributes-out: a decoder trained without any episode that plants the attribute or edit, scored on "
        "held-out episodes that plant it (claim and set), beside the decoder trained on everything and the "
        "mean-difference cosine:", "",
        table(["withheld", "training episodes dropped", "scored episodes", "trained without it", "trained with it",
               "mean-difference cosine"], leave), "",
        "Training curve (held-out top-1 of the full statement): "
        + ", ".join(f"{n} episodes {a:.3f}" for n, a in curve), ""])
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = results_stem(model)
    (RESULTS / f"{stem}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"{stem}_curve.svg").write_text(
        curve_svg(curve, f"decoder-{model}: held-out top-1 of the full statement", chance), encoding="utf-8")
    print(text)
    if not args.no_ship:
        entry = write_decoder(trained, f"decoder-{model}", shipped=True,
                              description=description(model, reads, len(train), hits / total, hits_claim / total))
        print(f"wrote {entry}")
    host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
