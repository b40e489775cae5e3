"""What the command line shows while work runs and after: progress bars, the summary, the reports written."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from ..progress import Progress, Work, run
from ..report import describe, describe_link, ordered_findings, verdict, write_html, write_json


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


def _own_line(supported) -> str:
    """How many supported findings are differences of their own, as the end of the summary's count line."""
    n, n_own = len(supported), sum(f.independent for f in supported)
    if n == 0:
        return "."
    if n_own == n:
        return ", each a difference of its own:" if n > 1 else ", a difference of its own:"
    if n_own == 0:
        return ("; none stands as a difference of its own once the others are accounted for (they move together, "
                "and the data cannot say which is the cause; each says why):")
    own = "is a difference of its own" if n_own == 1 else "are differences of their own"
    return f"; {n_own} {own}, the others are nested under what explains them:"


def print_summary(result, out: Path) -> None:
    print(verdict(result))
    if result.domain is not None and result.domain.message:  # out of the model's domain: spotdiff.analysis.domain
        print(result.domain.message)
    for warning in result.warnings:
        print(f"warning: {warning}")
    supported = [f for f in ordered_findings(result.findings) if f.supported]
    by_id = {f.id: f for f in supported}
    print(f"{len(supported)} of {len(result.findings)} hypotheses hold up on held-out images{_own_line(supported)}")
    for f in (f for f in supported if f.explained_by is None):
        mark = "" if f.independent else f"; {describe_link(f, by_id)}"
        print(f"  - {describe(f)}  (held-out AUROC {f.heldout_auroc:.2f}, q = {f.q_value:.2g}; {f.source}{mark})")
        for echo in (e for e in supported if e.explained_by == f.id):
            print(f"      ↳ {describe(echo)}  (AUROC {echo.heldout_auroc:.2f}; {describe_link(echo, by_id)})")
    unsupported = len(result.findings) - len(supported)
    if unsupported:
        print(f"  ({unsupported} more were proposed but not confirmed; see the report)")
    from_vlm = [f for f in result.findings if f.source == "vlm"]
    if from_vlm:  # a model's words count only as far as the held-out check goes
        print(f"  ({len(from_vlm)} of the hypotheses came from the vision-language model "
              f"{result.settings.get('vlm')}, {sum(f.supported for f in from_vlm)} of them supported)")
    print(f"report: {out / 'report.html'}")
