"""Summaries of a benchmark run: metrics per suite, level and method; the targets; the Markdown tables.

Metrics (``k`` counts a method's claims in its own rank order; for spotdiff only supported findings are claims):

* Acc@1, Acc@5 — fraction of pairs where a claim that matches a planted difference is among the top k;
* recall@10 — multi-difference pairs: fraction of all planted differences matched among the top 10 claims;
* false-finding rate — null pairs (the null suite's, and the local suite's photo pairs without a plant):
  fraction of pairs where the method asserts at least one finding;
* false explanations — mean per pair of the method's explanations (spotdiff: its independent findings; a
  baseline: its top k asserted claims, k = the number of planted differences, at least 1) that match no
  planted difference; precision — the share of its explanations that match one; own — multi-difference pairs:
  the share of planted differences named by an explanation that names no other;
* s/pair — the method's own seconds per pair; embedding (shared by all methods) and drawing the images are
  reported beside it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from .baselines import METHOD_TITLES
from .options import BASELINES, METHODS
from .suites import PREVALENCE_SET_SIZES, prevalence_level

SUITE_TITLES = {"single": "single semantic difference", "lowlevel": "low-level edit", "prevalence": "prevalence sweep",
                "null": "null pairs (no difference)", "multi": "multi-difference", "sizes": "set size",
                "local": "small local edits"}
MAIN_METRIC = {"single": "acc1", "lowlevel": "acc1", "prevalence": "acc1", "sizes": "acc1", "multi": "recall",
               "null": "false_finding_rate", "local": "acc1"}
BREAKDOWNS = {"single": "attribute kind", "lowlevel": "edit", "local": "edit"}
LOWER_IS_BETTER = {"false_finding_rate"}


def _mean(values: Iterable) -> float | None:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else None


def _metrics(records: list[dict], method: str) -> dict:
    answers = [r["methods"][method] for r in records]
    out = {"n_pairs": len(records), "seconds": _mean(a["seconds"] for a in answers)}
    if not all(a["available"] for a in answers):
        return out | {"available": False}
    planted = [(r, a) for r, a in zip(records, answers) if r["planted"]]
    if planted:
        out["acc1"] = _mean(a["rank"] is not None and a["rank"] <= 1 for _, a in planted)
        out["acc5"] = _mean(a["rank"] is not None and a["rank"] <= 5 for _, a in planted)
        found = [f for _, a in planted for f in a["found"]]
        out["recall"] = _mean(found)
    null = [a for r, a in zip(records, answers) if not r["planted"]]
    if null:
        out["false_finding_rate"] = _mean(a["n_asserted"] > 0 for a in null)
    if all("false_explanations" in a for a in answers):
        out["false_explanations"] = _mean(a["false_explanations"] for a in answers)
        out["precision"] = _mean(a["precision"] for a in answers if a["precision"] is not None)
        own = [o for r, a in zip(records, answers) if len(r["planted"]) > 1 for o in a["own"]]
        if own:
            out["own"] = _mean(own)
    return out | {"available": True}


def summarise(records: list[dict], methods: Sequence[str] = METHODS) -> dict:
    """{"summary": {suite: {level: {method: metrics}}}, "breakdown": ..., "targets": [...], "timing": ...} of
    ``methods`` (those the records hold)."""
    by_level: dict = defaultdict(lambda: defaultdict(list))
    by_group: dict = defaultdict(lambda: defaultdict(list))
    for r in records:
        by_level[r["suite"]][r["level"]].append(r)
        by_group[r["suite"]][r["group"]].append(r)
    summary = {}
    for suite, levels in by_level.items():
        summary[suite] = {level: {m: _metrics(rs, m) for m in methods} for level, rs in levels.items()}
        if len(levels) > 1:
            pooled = [r for rs in levels.values() for r in rs]
            summary[suite]["all"] = {m: _metrics(pooled, m) for m in methods}
    breakdown = {suite: {group: {m: _metrics(rs, m) for m in methods} for group, rs in groups.items()}
                 for suite, groups in by_group.items() if suite in BREAKDOWNS}
    timing = {"synth_s_per_pair": _mean(r["synth_s"] for r in records),
              "embed_s_per_pair": _mean(r["embed_s"] for r in records),
              "method_s_per_pair": {m: _mean(r["methods"][m]["seconds"] for r in records) for m in methods}}
    return {"summary": summary, "breakdown": breakdown, "targets": targets(summary), "timing": timing}


def _get(summary: dict, suite: str, level: str, method: str, metric: str):
    return summary.get(suite, {}).get(level, {}).get(method, {}).get(metric)


def _suite_level(summary: dict, suite: str) -> str | None:
    levels = summary.get(suite, {})
    return "all" if "all" in levels else next(iter(levels), None)


def targets(summary: dict) -> list[dict]:
    """The issue's targets, each with the value reached and whether it is met (None: suite not run)."""
    wanted = [
        ("Acc@1 at 100 % prevalence (single semantic)", "single", "100 %", "acc1", ">=", 0.90),
        ("Acc@5 at 100 % prevalence (single semantic)", "single", "100 %", "acc5", ">=", 0.98),
        *((f"Acc@{k} at 100 % prevalence (prevalence sweep, {n} per set)", "prevalence",
           prevalence_level(1.0, n), f"acc{k}", ">=", bound)
          for n in PREVALENCE_SET_SIZES for k, bound in ((1, 0.90), (5, 0.98))),
        *((f"Acc@1 at 20 % prevalence ({n} per set)", "prevalence", prevalence_level(0.2, n), "acc1", ">=", 0.60)
          for n in PREVALENCE_SET_SIZES),
        ("false findings on null pairs", "null", "no difference", "false_finding_rate", "<=", 0.05),
        ("recall on 3-difference pairs", "multi", "3 differences", "recall", ">=", 0.80),
        ("false explanations per pair (single semantic)", "single", "all", "false_explanations", "<=", 0.30),
        ("false explanations per pair (low-level edits)", "lowlevel", "all", "false_explanations", "<=", 0.30),
        *((f"each plant its own independent finding ({k} differences)", "multi", f"{k} differences", "own",
           ">=", 0.80) for k in (2, 3)),
    ]
    out = []
    for name, suite, level, metric, op, bound in wanted:
        level = _suite_level(summary, suite) if level == "all" else level
        value = _get(summary, suite, level, "spotdiff", metric)
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        out.append({"target": name, "value": value, "bound": f"{op} {bound:.2f}", "met": met})
    for suite in SUITE_TITLES:
        level = _suite_level(summary, suite)
        if level is None:
            continue
        metric = MAIN_METRIC[suite]
        ours = _get(summary, suite, level, "spotdiff", metric)
        theirs = {m: _get(summary, suite, level, m, metric) for m in BASELINES}  # not its own ablations
        theirs = {m: v for m, v in theirs.items() if v is not None}
        if not theirs:
            continue  # no baseline ran (bench --methods): nothing to be ahead of
        better = (lambda a, b: a < b) if metric in LOWER_IS_BETTER else (lambda a, b: a > b)
        behind = [f"{METHOD_TITLES[m]} {v:.2f}" for m, v in theirs.items() if ours is None or not better(ours, v)]
        out.append({"target": f"spotdiff ahead of every baseline: {SUITE_TITLES[suite]} ({metric})",
                    "value": ours, "bound": "not ahead of: " + ", ".join(behind) if behind else "ahead of all",
                    "met": not behind})
    return out


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _cell(metrics: dict, suite: str) -> str:
    if not metrics.get("available", True):
        return "n/a"
    if suite == "null" or ("acc1" not in metrics and "false_finding_rate" in metrics):
        return _fmt(metrics.get("false_finding_rate"))
    if suite == "multi":
        return f"{_fmt(metrics.get('recall'))} ({_fmt(metrics.get('acc1'))})"
    return f"{_fmt(metrics.get('acc1'))} / {_fmt(metrics.get('acc5'))}"


def _explanation_cell(metrics: dict) -> str:
    if not metrics.get("available", True) or "false_explanations" not in metrics:
        return "n/a"
    cell = f"{_fmt(metrics['false_explanations'])} / {_fmt(metrics.get('precision'))}"
    return cell + (f" / {_fmt(metrics['own'])}" if "own" in metrics else "")


_METRIC_TEXT = {"null": "false-finding rate (lower is better)", "multi": "recall@10 (Acc@1)"}


def _metric_text(suite: str, level: str) -> str:
    if level.endswith("no difference"):
        return _METRIC_TEXT["null"]
    return _METRIC_TEXT.get(suite, "Acc@1 / Acc@5")


def _fixed_sizes(pairs: list[dict]) -> str:
    sizes = sorted({r["image_size"] for r in pairs if r.get("image_size")})
    return f" (local edits: {', '.join(map(str, sizes))} px)" if sizes else ""


def write_markdown(document: dict) -> str:
    summary, methods = document["summary"], document["methods"]
    head = "| suite | level | pairs | metric | " + " | ".join(METHOD_TITLES[m] for m in methods) + " |"
    lines = [
        "## Planted-difference benchmark", "",
        f"`{document['command']}` — {document['started']}, {len(document['pairs'])} pairs, "
        f"{document['runtime_s']:.0f} s on {document['environment']['machine']} "
        f"(Python {document['environment']['python']}); spaces: {', '.join(document['spaces'])}; "
        f"scenes of {document['image_size']} px{_fixed_sizes(document['pairs'])}.", "",
        head, "|" + "---|" * (4 + len(methods)),
    ]
    for suite in SUITE_TITLES:
        for level, by_method in summary.get(suite, {}).items():
            if level == "all":
                continue
            metric = _metric_text(suite, level)
            n = by_method[methods[0]]["n_pairs"]
            lines.append(f"| {SUITE_TITLES[suite]} | {level} | {n} | {metric} | "
                         + " | ".join(_cell(by_method[m], suite) for m in methods) + " |")
    timing = document["timing"]
    lines.append("| all pairs | | " + str(len(document["pairs"])) + " | seconds per pair (method only) | "
                 + " | ".join(_fmt(timing["method_s_per_pair"][m]) for m in methods) + " |")
    lines += ["", f"Every method reads the same embeddings of the same files: embedding took "
              f"{_fmt(timing['embed_s_per_pair'])} s per pair (shared), drawing the images "
              f"{_fmt(timing['synth_s_per_pair'])} s. n/a: the method needs a text encoder and the model has none.",
              "", "### Targets", "", "| target | spotdiff | bound | met |", "|---|---|---|---|"]
    for t in document["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {t['bound']} | {met} |")
    lines += ["", "### Minimal explanations: what each method says differs", "",
              "false explanations per pair / precision (multi-difference: / each plant its own finding); "
              "spotdiff's explanations are its independent findings, a baseline's its top k claims (k = planted "
              "differences, at least 1).", "",
              "| suite | level | " + " | ".join(METHOD_TITLES[m] for m in methods) + " |",
              "|" + "---|" * (2 + len(methods))]
    for suite in SUITE_TITLES:
        for level, by_method in summary.get(suite, {}).items():
            if level != "all" and any("false_explanations" in by_method[m] for m in methods):
                lines.append(f"| {SUITE_TITLES[suite]} | {level} | "
                             + " | ".join(_explanation_cell(by_method[m]) for m in methods) + " |")
    for suite, title in BREAKDOWNS.items():
        groups = document["breakdown"].get(suite)
        if not groups:
            continue
        lines += ["", f"### {SUITE_TITLES[suite]}: Acc@1 by {title}", "",
                  f"| {title} | pairs | " + " | ".join(METHOD_TITLES[m] for m in methods) + " |",
                  "|" + "---|" * (2 + len(methods))]
        for group, by_method in groups.items():
            lines.append(f"| {group} | {by_method[methods[0]]['n_pairs']} | "
                         + " | ".join("n/a" if not by_method[m].get("available", True)
                                      else _fmt(by_method[m].get("acc1")) for m in methods) + " |")
    lines += ["", "Judge: engine/apps/bench/judge.py (a claim names the planted value, for the set that got it; "
              "small local edits: their kind, colour and size; supported findings only for spotdiff). "
              "Methods: engine/apps/bench/baselines.py.", ""]
    return "\n".join(lines)
