"""One self-contained HTML page for a comparison: opens offline, needs no script, links nothing.

The page is a tuple of sections (:data:`SECTIONS`), each a small function that takes the
page context and returns an HTML fragment, or ``""`` to leave itself out. A new section
(acquisition differences, say) is one more function in that tuple; pictures and their
per-image overlays (heat maps) are in :mod:`.html_pictures`. Every string that comes from the
user or a model passes through ``_e`` (``html.escape``); pictures are inline ``data:`` URIs made
by :func:`spotdiff.io.images.thumbnail`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import math
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from ..analysis import heatmap
from ..analysis.result import Cluster, Direction, Finding
from .html_pictures import Page, Thumbnails, gallery, where_figure
from .html_pictures import escape as _e
from .json_report import PathNamer, json_safe, ordered_findings, region_boxes, tool_version
from .svg_charts import histogram_svg
from .wording import DEFAULT_ALPHA, describe, describe_link, fmt_2dp, fmt_p, is_confounder, p_is, describe_test, verdict

if TYPE_CHECKING:
    from ..comparison import Result  # lazy: type hints only (Result writes its reports with this package)

SKIPPED_OPEN_UP_TO = 20
"""The skipped-files list starts folded when it is longer than this."""


# --- sections ----------------------------------------------------------------------------


def _chip(label: str) -> str:
    return f'<span class="chip set-{_e(label)}">{_e(label.upper())}</span>'


VLM_NOTE = ("put into words by a vision-language model shown example images of the discovery half; "
            "like every claim it counts only as far as the held-out check supports it")


def _source(source: str) -> str:
    """A finding's source; a vision-language model's proposals carry a visible badge."""
    if source == "vlm":
        return f'<span class="badge vlm" title="{_e(VLM_NOTE)}">VLM</span>'
    return _e(source)


def _section_header(page: Page) -> str:
    r = page.result
    boxes = []
    for s in (r.set_a, r.set_b):
        sources = "".join(f'<li class="path">{_e(page.namer.path(p))}</li>' for p in s.sources)
        boxes.append(
            f'<div class="set set-{_e(s.label)}"><h3>{_chip(s.label)} Set {_e(s.label.upper())}</h3>'
            f"<ul>{sources}</ul><p>{len(s.images)} images used, {len(s.skipped)} skipped</p></div>"
        )
    model, seed = r.settings.get("model", "—"), r.settings.get("seed", "—")
    meta = f"spotdiff {_e(tool_version())} · model {_e(model)} · seed {_e(seed)}"
    return (
        '<header><h1>How set A and set B differ</h1>'
        f'<p class="meta">{meta}</p><div class="sets">{"".join(boxes)}</div></header>'
    )


def _section_verdict(page: Page) -> str:
    r = page.result
    differ = any(math.isfinite(s.p_value) and s.p_value <= page.alpha for s in r.separability)
    text = f'<div class="verdict{" differ" if differ else ""}">{_e(verdict(r, page.alpha))}</div>'
    if r.domain is not None and r.domain.message:  # out of the model's domain: spotdiff.analysis.domain
        text += f'<p class="notice domain">{_e(r.domain.message)}</p>'
    if len(r.separability) > 1:
        rows = "".join(
            f'<tr><td>{_e(s.space)}</td><td class="num">{fmt_2dp(s.auroc)}</td>'
            f'<td class="num">{fmt_p(s.p_value)}</td><td class="num">{s.n_permutations}</td></tr>'
            for s in r.separability
        )
        text += (
            '<table><tr><th>Space</th><th class="num">AUROC</th><th class="num">p</th>'
            f'<th class="num">Permutations</th></tr>{rows}</table>'
        )
    return text


def _section_leaks(page: Page) -> str:
    leaks = page.result.leaks
    if not leaks:
        return ""
    items = "".join(
        f'<li><span class="path">{_e(page.namer.path(k.path_a))}</span> (A) = '
        f'<span class="path">{_e(page.namer.path(k.path_b))}</span> (B)</li>'
        for k in leaks
    )
    n = len(leaks)
    return (
        f'<div class="notice leak"><strong>{n} {"file is" if n == 1 else "files are"} in both sets</strong> '
        "(identical bytes). Such copies blur the contrast between the sets, and a copy that lands in "
        "both the discovery and the held-out half makes a held-out check look better than it is. "
        f"Remove the copies and run the comparison again.<ul>{items}</ul></div>"
    )


def _section_warnings(page: Page) -> str:
    if not page.result.warnings:
        return ""
    items = "".join(f"<li>{_e(page.namer.text(w))}</li>" for w in page.result.warnings)
    return f'<div class="notice"><strong>Warnings</strong><ul>{items}</ul></div>'


def _findings_row(i: int, f: Finding, by_id: dict) -> str:
    """A row of a findings table; a side effect is indented under its cause, with why it is nested there."""
    nested = f.supported and f.explained_by is not None
    mark = ('<span class="yes">✓</span>' if f.independent else '<span class="yes">✓ nested</span>' if nested
            else '<span class="yes">✓ not its own</span>' if f.supported else '<span class="no">✗</span>')
    link = describe_link(f, by_id)
    return (
        f'<tr class="{"supported" if f.supported else "unsupported"}{" nested" if nested else ""}" id="row-{f.id}">'
        f'<td>{"↳ " if nested else ""}<a href="#finding-{i}">{_e(describe(f))}</a>'
        + (f'<br><small class="muted">{_e(link)}</small>' if link else '')
        + f'</td><td>{_chip(f.more_in)}</td>'
        f'<td>{_source(f.source)}</td><td class="num">{fmt_2dp(f.heldout_auroc)}</td>'
        f'<td class="num">{fmt_p(f.p_value)}</td><td class="num">{fmt_p(f.q_value)}</td>'
        f'<td class="num">{mark}</td></tr>'
    )


def _findings_table(rows: str) -> str:
    return (
        '<table><tr><th>Statement</th><th>More in</th><th>Source</th><th class="num">Held-out AUROC</th>'
        f'<th class="num">p</th><th class="num">q</th><th class="num">Supported</th></tr>{rows}</table>'
    )


def _section_confounders(page: Page) -> str:
    numbered = [(i, f) for i, f in enumerate(page.findings, start=1) if is_confounder(f)]
    if not numbered:
        return ""
    n_supported = sum(f.supported for _, f in numbered)
    return (
        '<section id="confounders"><h2>Possible confounders</h2>'
        f"<p>{n_supported} of {len(numbered)} claims about how the images were made — acquisition (scanner, "
        "site, protocol) and measured image properties (size, brightness, contrast, noise, sharpness) — are "
        f"supported on held-out images (q ≤ {_e(page.alpha)}). A model can tell the sets apart by these alone; "
        "before reading a finding about content as a real difference, check that none of these explains it."
        f"</p>{_findings_table(''.join(_findings_row(i, f, page.by_id) for i, f in numbered))}</section>"
    )


def _section_findings_table(page: Page) -> str:
    if not page.findings:
        return '<section id="findings"><h2>Findings</h2><p class="muted">No claims were tested.</p></section>'
    numbered = [(i, f) for i, f in enumerate(page.findings, start=1) if not is_confounder(f)]
    if not numbered:
        return ('<section id="findings"><h2>Findings</h2><p class="muted">Every claim tested was about how the '
                "images were made; see Possible confounders.</p></section>")
    findings = [f for _, f in numbered]
    n_supported = sum(f.supported for f in findings)
    claims = "claim is" if len(findings) == 1 else "claims are"
    rows = "".join(_findings_row(i, f, page.by_id) for i, f in numbered)
    return (
        f'<section id="findings"><h2>Findings</h2><p>{n_supported} of {len(findings)} {claims} supported '
        f"on held-out images (q ≤ {_e(page.alpha)}). Each claim was found on one half of the images "
        "and checked on the other.</p>"
        + (f'<p class="muted">{_source("vlm")}: {_e(VLM_NOTE)}.</p>' if any(f.source == "vlm" for f in findings)
           else "")
        + '<table><tr><th>Statement</th><th>More in</th><th>Source</th><th class="num">Held-out AUROC</th>'
        '<th class="num">p</th><th class="num">q</th><th class="num">Supported</th></tr>'
        f"{rows}</table></section>"
    )


def _score_label(statement: str, max_chars: int = 60) -> str:
    short = statement if len(statement) <= max_chars else statement[: max_chars - 1] + "…"
    return f"score: {short} (higher = more)"


MAP_NOTE = ('<p class="muted map-note">Beside a picture, its heat map: where in it the claim scores highest '
            "(brighter = higher; the ring marks the peak).</p>")


REGIONS_NOTE = ('<p class="muted map-note">Outlined on each picture: the regions the detector finds in it '
                "(nothing outlined: it finds none).</p>")


def _region_table(summary) -> str:
    """What a region finding's regions look like (RegionSummary.to_json), as the discovery half shows them."""
    d = summary.to_json()
    low, high = d["count"]
    rows = (
        ("Size", f'{d["width_px"]:g} × {d["height_px"]:g} px, {d["area_percent"]:.2g} % of the image ({d["size"]})'),
        ("Colour", d["colour"]),
        ("Shape", f'{d["kind"]}, fill {d["fill"]:.2f} (share of its box it covers: 1 = a solid rectangle)'),
        ("Count", f"{low} per image" if low == high else f"{low}–{high} per image (middle half of the images)"),
        ("Position", d["position"]),
        ("Contrast", f'{d["contrast"]:.2f} (colour distance to its surroundings, 0 to 1.7)'),
        ("Texture", f'{d["texture"]:.2f} (its lightness variation over its surroundings\'; below 1: smoother)'),
    )
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return (f'<table class="regions" style="width:auto;max-width:560px"><caption style="text-align:left">The '
            f'regions, described from the discovery half ({d["n_regions"]} regions in {d["n_images"]} images of set '
            f'{_e(d["toward"].upper())})</caption>{body}</table>')


def _finding_card(page: Page, i: int, f: Finding) -> str:
    h = f.hypothesis
    seen: set[Path] = set()
    maps = {side: heatmap.maps_of(page.result.heatmaps, heatmap.item_key(f, side)) for side in "ab"}
    boxes_of = (lambda record: region_boxes(f, record)) if f.region is not None else None
    galleries = gallery(page, "Set A", f.exemplars_a, "a", seen, maps["a"], boxes_of)
    galleries += gallery(page, "Set B", f.exemplars_b, "b", seen, maps["b"], boxes_of)
    note = MAP_NOTE if 'class="heatmap"' in galleries else ""
    if f.region is not None:
        note += REGIONS_NOTE
        region = (f'<div class="region" style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start;'
                  f'margin:10px 0">{_region_table(f.region)}{where_figure(f.region.location)}</div>')
    else:
        region = ""
    evidence = f'<p class="evidence">{_e(page.namer.text(h.evidence))}</p>' if h.evidence else ""
    status = ('<span class="yes">supported, a difference of its own</span>' if f.independent
              else '<span class="yes">supported</span>' if f.supported else '<span class="no">not supported</span>')
    link = describe_link(f, page.by_id)
    stats = (
        f"{status} · held-out AUROC {fmt_2dp(f.heldout_auroc)} · {p_is('p', f.p_value)} ({_e(describe_test(f))}) · "
        f"{p_is('q', f.q_value)} · n = {np.size(f.scores_a)} (A) / {np.size(f.scores_b)} (B) · "
        f"source {_source(h.source)} · space {_e(h.space)}"
    )
    threshold = h.threshold if h.test == "exceedance" else None  # a subgroup claim: images above it count
    chart = histogram_svg(f.scores_a, f.scores_b, x_label=_score_label(h.statement), threshold=threshold)
    return (
        f'<article class="card finding {"supported" if f.supported else "unsupported"}" id="finding-{i}">'
        f'<h3>{_e(describe(f))}</h3><p class="stats">{stats}</p>'
        + (f'<p class="explained">{_e(link)}</p>' if link else "") + f'{evidence}'
        f'<div class="chart">{chart}</div>{region}'
        f'{note}<div class="galleries">{galleries}</div></article>'
    )


def _section_finding_cards(page: Page) -> str:
    if not page.findings:
        return ""
    cards = "".join(_finding_card(page, i, f) for i, f in enumerate(page.findings, start=1))
    return f'<section id="finding-details"><h2>Each finding, on held-out images</h2>{cards}</section>'


def _direction_card(page: Page, d: Direction) -> str:
    seen: set[Path] = set()
    maps = {side: heatmap.maps_of(page.result.heatmaps, heatmap.item_key(d, side)) for side in "ab"}
    galleries = (
        gallery(page, "Most A-like", d.exemplars_a, "a", seen, maps["a"])
        + gallery(page, "Typical of A", d.typical_a, "a", seen, maps["a"])
        + gallery(page, "Typical of B", d.typical_b, "b", seen, maps["b"])
        + gallery(page, "Most B-like", d.exemplars_b, "b", seen, maps["b"])
    )
    concepts = f"<p>Nearest concepts: {_e(', '.join(d.concepts))}</p>" if d.concepts else ""
    note = MAP_NOTE.replace("the claim scores highest", "it looks most like its set along this direction") \
        if 'class="heatmap"' in galleries else ""
    return (
        f'<article class="card direction"><h3>Direction {d.index} · {_e(d.space)}</h3>'
        f'<p class="stats">discovery AUROC {fmt_2dp(d.discovery_auroc)} · held-out AUROC '
        f'{fmt_2dp(d.heldout_auroc)}</p>{concepts}{note}<div class="galleries">{galleries}</div></article>'
    )


def _section_directions(page: Page) -> str:
    if not page.result.directions:
        return ""
    cards = "".join(_direction_card(page, d) for d in page.result.directions)
    return (
        '<section id="directions"><h2>Directions</h2><p class="muted">Lines in embedding space along which '
        f"set B differs from set A; the images at either end show what changes.</p>{cards}</section>"
    )


def _cluster_card(page: Page, c: Cluster) -> str:
    members = gallery(page, "Members", c.members, c.more_in, set())
    return (
        f'<article class="card cluster"><h3>Cluster {c.index} · {_e(c.space)} · '
        f"more in {_chip(c.more_in)}</h3>"
        f'<p class="stats">{c.n_a} images from A, {c.n_b} from B · enrichment {fmt_2dp(c.enrichment)}× · '
        f'{p_is("p", c.p_value)}</p><div class="galleries">{members}</div></article>'
    )


def _section_clusters(page: Page) -> str:
    if not page.result.clusters:
        return ""
    cards = "".join(_cluster_card(page, c) for c in page.result.clusters)
    return (
        '<section id="clusters"><h2>Clusters</h2><p class="muted">Groups of similar images that one set has '
        f"more of than its share.</p>{cards}</section>"
    )


def _section_skipped(page: Page) -> str:
    r = page.result
    rows = [
        f'<tr><td>{_chip(s.label)}</td><td class="path">{_e(page.namer.path(f.path))}</td>'
        f"<td>{_e(page.namer.text(f.reason))}</td></tr>"
        for s in (r.set_a, r.set_b)
        for f in s.skipped
    ]
    if not rows:
        return ""
    is_open = " open" if len(rows) <= SKIPPED_OPEN_UP_TO else ""
    return (
        f'<section id="skipped"><h2>Skipped files</h2><details{is_open}><summary>{len(rows)} files could not '
        f'be used</summary><table><tr><th>Set</th><th>File</th><th>Reason</th></tr>{"".join(rows)}</table>'
        "</details></section>"
    )


def _key_value_table(mapping: dict, format_value: Callable[[object], str]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td>{format_value(v)}</td></tr>" for k, v in sorted(mapping.items())
    )
    return f"<table>{rows}</table>"


def _section_settings(page: Page) -> str:
    settings = json_safe(page.result.settings, page.namer)
    timings = json_safe(page.result.timings, page.namer)

    def value(v: object) -> str:
        if isinstance(v, str):
            return _e(v)
        return f"<code>{_e(json.dumps(v, sort_keys=True, ensure_ascii=False))}</code>"

    def seconds(v: object) -> str:
        return f"{v:.2f} s" if isinstance(v, (int, float)) and not isinstance(v, bool) else value(v)

    return (
        '<section id="settings"><h2>Settings and timings</h2><details><summary>Settings</summary>'
        f"{_key_value_table(settings, value)}</details><details><summary>Timings</summary>"
        f"{_key_value_table(timings, seconds)}</details></section>"
    )


SECTIONS: tuple[Callable[[Page], str], ...] = (
    _section_header,
    _section_verdict,
    _section_leaks,
    _section_warnings,
    _section_confounders,
    _section_findings_table,
    _section_finding_cards,
    _section_directions,
    _section_clusters,
    _section_skipped,
    _section_settings,
)


def to_html(result: Result, *, pseudonymise_paths: bool = False) -> str:
    """The report page as one string of HTML."""
    namer = PathNamer(result, pseudonymise=pseudonymise_paths)
    alpha = result.settings.get("alpha", DEFAULT_ALPHA)
    page = Page(
        result=result,
        namer=namer,
        thumbnails=Thumbnails(namer),
        alpha=float(alpha) if isinstance(alpha, (int, float)) else DEFAULT_ALPHA,
        findings=ordered_findings(result.findings),
        set_of={rec.path: s.label for s in (result.set_a, result.set_b) for rec in s.images},
    )
    css = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
    names = [", ".join(namer.path(p) for p in s.sources) or s.label for s in (result.set_a, result.set_b)]
    body = "".join(section(page) for section in SECTIONS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>spotdiff: {_e(names[0])} vs {_e(names[1])}</title><style>{css}</style></head>"
        f"<body><main>{body}<footer>Made by spotdiff {_e(tool_version())}. "
        "The same results, machine-readable, are in report.json.</footer></main></body></html>\n"
    )


def write_html(result: Result, path: Path | str, *, pseudonymise_paths: bool = False) -> Path:
    """Write the self-contained report page for ``result`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(to_html(result, pseudonymise_paths=pseudonymise_paths), encoding="utf-8", newline="\n")
    return path
