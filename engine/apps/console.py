"""What the command line shows while work runs and after: progress bars, the summary, the reports written."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from ..progress import Progress, Work, run
from ..report import describe, verdict, write_html, write_json


def _bar_driver(quiet: bool):
    """A progress callback drawing one tqdm bar per stage on stderr."""
    if quiet:
        return None
    state: dict = {"stage": None, "bar": None}

    def on_progress(p: Progress) -> None:
        if p.stage != state["stage"]:
            if state["bar"] is not None:
                state["bar"].close()
            state["stage"] = p.stage
            state["bar"] = tqdm(total=p.total or None, desc=p.stage, unit="", leave=False, file=sys.stderr,
                                dynamic_ncols=True, disable=None)  # no bars when stderr is not a terminal
        bar = state["bar"]
        if p.total and bar.total != p.total:
            bar.total = p.total
        bar.n = p.done
        if p.message:
            bar.set_postfix_str(p.message[:40], refresh=False)
        bar.refresh()

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    on_progress.close = close  # type: ignore[attr-defined]
    return on_progress


def drive(work: Work, quiet: bool = False):
    callback = _bar_driver(quiet)
    try:
        return run(work, callback)
    finally:
        if callback is not None:
            callback.close()


def write_reports(result, out: Path, *, pseudonymise: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "report.json", pseudonymise_paths=pseudonymise)
    write_html(result, out / "report.html", pseudonymise_paths=pseudonymise)


def print_summary(result, out: Path) -> None:
    print(verdict(result))
    for warning in result.warnings:
        print(f"warning: {warning}")
    supported = result.supported
    print(f"{len(supported)} of {len(result.findings)} hypotheses hold up on held-out images:")
    for f in (f for f in supported if f.restates is None):
        print(f"  - {describe(f)}  (held-out AUROC {f.heldout_auroc:.2f}, q = {f.q_value:.2g}; {f.source})")
        for echo in (e for e in supported if e.restates == f.statement):
            print(f"      ≈ {describe(echo)}  (ranks the images alike: likely the same difference)")
    unsupported = len(result.findings) - len(supported)
    if unsupported:
        print(f"  ({unsupported} more were proposed but not confirmed; see the report)")
    from_vlm = [f for f in result.findings if f.source == "vlm"]
    if from_vlm:  # a model's words count only as far as the held-out check goes
        print(f"  ({len(from_vlm)} of the hypotheses came from the vision-language model "
              f"{result.settings.get('vlm')}, {sum(f.supported for f in from_vlm)} of them supported)")
    print(f"report: {out / 'report.html'}")
