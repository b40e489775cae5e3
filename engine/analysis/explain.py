"""Explaining away: which supported findings are differences of their own, and which are side effects.

One difference moves many claims: blur makes images "blurrier", and also "less noisy", "plainer" and
"simpler in tone"; tiny rectangles make toy-shapes see "text overlay" and "a watermark". Each is a true
statement about the scores, and only one is what differs. This module keeps the few findings that account
for the rest (a minimal explanation) and nests every other supported finding under the one that explains it.

Everything that chooses is fixed on the discovery half: the causes that can be re-planted and their
strengths (:mod:`spotdiff.analysis.replant`), the order of the claims (those causes first, then by discovery effect),
families of near-duplicates (within-set rank correlation >= 0.7 with the family's first claim) and each
claim's parents (its family's first claim, and the earlier family heads it correlates with, |r| >= 0.3,
within each set; at most three). The held-out half only tests, on each claim's own 1-d score:

* a cause's own claim: tested against the stronger claims that are not causes and that it follows within
  the sets (:func:`echoing_causes`): an edit that reproduces a claim does not show that nothing explains the
  claim ("blurrier" beside gradient backgrounds); a cause that is an echo itself is not planted;
* re-planting: the causes are planted into the other set's held-out images (all but the claim itself), so
  the claimed set is compared with images that have the cause too; a claim whose shift the planted causes
  reproduce at least half of (REPRODUCED_ENOUGH) is their echo, even when what is left of it is significant
  (darker images read as "rotated" by toy-shapes, the rest of that shift from the other difference);
* regression: the claim's held-out score is regressed on its parents' scores within each set (ANCOVA: one
  slope per parent, shared by both sets), and the set effect left over is tested one-sided by a
  Freedman–Lane permutation test.

With re-planting, each half is first cut to at most MAX_PLANTED images of each set (drawn at random, the same
for every claim): planting costs images x causes, and a few hundred images decide what explains what.

p* = max(p_value, p_conditional) is a valid p-value for "chance, or adds nothing"; the run's one weighted
Benjamini–Hochberg (same weights) on p* decides which supported findings are *independent*. A re-planted cause,
whose evidence is an intervention, is also independent when its p* passes the follow-up level that its selection
earned (Benjamini & Bogomolov 2014: alpha x supported findings / findings, times its weight;
:func:`spotdiff.analysis.stats.selective_rejections`): in a second BH over p*, each echo that re-planting shows
it to cause (p* = 1) leaves it fewer rejections to share the level with, so the more a cause explains, the
stricter its own test — a darkening whose re-planting reproduces four other findings was not independent at
p = 0.011. A claim tested by regression alone keeps the second BH: the stricter level is what keeps echoes that
regression cannot nest (a colour cast beside a background) from standing as differences of their own. Every other
supported finding is a *side effect of* what accounts for most of its shift — the re-planted cause when
re-planting reproduces at least half of it, else the parent whose slope carries most of it — or *aliased
with* that parent when the sets do not overlap at all on the parent's held-out scores: the slope is then
extrapolated, and set membership alone cannot tell an echo from a difference of its own. For the same reason a
claim tested by regression alone is never called independent of an earlier claim at least as strong on the
discovery half (a parent first, then in test order) on which the held-out sets do not overlap: whatever else
differs between the sets then moves with that claim, the regression cannot show that it adds anything, and
it is aliased with that claim. Only re-planting (an intervention) can show a difference of its own there —
the blur and a warm cast, both in every image of B, each stand because re-planting the one does not reproduce
the other. Near-synonyms
("a small object" after "small rectangles") are family members their head explains: one mechanism.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from .replant import choose_causes, claim_data, reproduced_share, sampled
from .result import Finding
from .stats import (fisher_greater, mann_whitney_greater, rankdata, selective_rejections,
                    weighted_benjamini_hochberg)
from .subgroups import is_share_claim
from .validate import DEFAULT_ALPHA, Half, claim_effect, finding_order, half_scores, separation, sort_findings

FAMILY_CORRELATION = 0.7
PARENT_CORRELATION = 0.3
MAX_PARENTS = 3
N_PERMUTATIONS = 999
SWAP_P = 0.05  # a later claim takes an earlier one's place only if the earlier cannot explain it at this level
REPRODUCED_ENOUGH = 0.5  # share of a claim's shift that re-planting must reproduce to explain it


def within_set_ranks(scores_a: np.ndarray, scores_b: np.ndarray) -> np.ndarray:
    """Scores ranked and standardised within each set, so set membership itself adds no correlation."""
    parts = []
    for s in (scores_a, scores_b):
        r = rankdata(s)
        sd = r.std()
        parts.append((r - r.mean()) / sd if sd > 0 else np.zeros_like(r))
    return np.concatenate(parts)


def residual_shift_p(y: np.ndarray, claimed: np.ndarray, parents: np.ndarray, *, n_permutations: int = N_PERMUTATIONS,
                     seed: int = 0) -> tuple[float, np.ndarray]:
    """One-sided Freedman–Lane p-value of the set effect on ``y`` left after its parents, and each parent's
    share of the raw shift.

    y : ndarray of shape (n,), the claim's scores; claimed : bool ndarray (n,), True for the claimed set;
    parents : ndarray of shape (n, k). Model y = a + b·claimed + parents·c (slopes shared by both sets);
    the reduced model without ``claimed`` is fitted, its residuals permuted and added back, and the t of b
    recomputed. shares[k] = c_k · (parent k's mean shift) / (y's mean shift).
    """
    n = len(y)
    g = claimed.astype(np.float64)
    full = np.column_stack([np.ones(n), g, parents])
    reduced = np.column_stack([np.ones(n), parents])
    if np.linalg.matrix_rank(full) < full.shape[1] or n - full.shape[1] < 2:
        return 1.0, np.zeros(parents.shape[1])  # set membership is one of the parents: nothing to test
    fitted = reduced @ np.linalg.lstsq(reduced, y, rcond=None)[0]
    if np.sum((y - fitted) ** 2) <= 1e-12 * max(np.sum((y - y.mean()) ** 2), 1e-300):
        return 1.0, np.eye(parents.shape[1])[0]  # the parents give y exactly: nothing is left to shift
    rng = np.random.default_rng([seed, 0xE1A1])
    order = np.argsort(rng.random((n_permutations, n)), axis=1)
    Y = np.column_stack([y, fitted[:, None] + (y - fitted)[order].T])
    pinv = np.linalg.pinv(full)
    coef = pinv @ Y
    resid = Y - full @ coef
    sigma2 = (resid**2).sum(0) / (n - full.shape[1])
    t = coef[1] / np.sqrt(np.maximum(sigma2 * (pinv @ pinv.T)[1, 1], 1e-300))
    p = (1 + np.sum(t[1:] >= t[0])) / (n_permutations + 1)
    shift = y[g == 1].mean() - y[g == 0].mean()
    parent_shift = parents[g == 1].mean(0) - parents[g == 0].mean(0)
    shares = coef[2:, 0] * parent_shift / shift if shift != 0 else np.zeros(parents.shape[1])
    return float(p), shares


def _marginal_p(f: Finding, half: Half) -> float:
    less, more = half_scores(f.hypothesis, half)[2:]
    return fisher_greater(less, more, f.hypothesis.threshold) if is_share_claim(f.hypothesis) \
        else mann_whitney_greater(less, more)


def discovery_order(findings: Sequence[Finding], discovery: Half, first: Sequence[int] = ()) -> list[int]:
    """Indices of ``findings`` in test order: ``first`` (the re-planted causes), then the claims whose discovery
    shift is left largest by the claim that explains it best (:func:`residual_t`), then by discovery effect.

    A cause explains its echoes' shifts better than an echo explains the cause's (an echo carries noise of
    its own, which flattens its slope), so causes come before their echoes and head their families."""
    t = residual_t(findings, discovery)
    left = t.min(0) if len(findings) > 1 else np.full(len(findings), np.inf)

    def key(i):
        less, more = half_scores(findings[i].hypothesis, discovery)[2:]
        return (-min(float(left[i]), 1e9), -round(claim_effect(findings[i].hypothesis, less, more), 2),
                -_cohen_d(less, more), i)
    return list(first) + sorted((i for i in range(len(findings)) if i not in first), key=key)


def residual_t(findings: Sequence[Finding], discovery: Half) -> np.ndarray:
    """t[k, j]: t-statistic of claim j's discovery shift (towards its claimed set) left after regressing its
    scores on claim k's within the sets (ANCOVA with one shared slope); +inf on the diagonal; shape (n, n)."""
    if len(findings) < 2:
        return np.full((len(findings), len(findings)), np.inf)
    columns = [claim_data(f, discovery) for f in findings]
    Y = np.column_stack([y for y, _ in columns])
    side_b = columns[0][1] if findings[0].more_in == "b" else ~columns[0][1]
    sign = np.array([1.0 if f.more_in == "b" else -1.0 for f in findings])
    centred = Y.copy()
    for side in (side_b, ~side_b):
        centred[side] -= centred[side].mean(0)
    shift = Y[side_b].mean(0) - Y[~side_b].mean(0)
    sxx = np.maximum((centred**2).sum(0), 1e-300)
    sxy = centred.T @ centred  # sxy[k, j]
    slope = sxy / sxx[:, None]
    rss = np.maximum(sxx[None, :] - sxy**2 / sxx[:, None], 1e-300)
    n_b, n_a = int(side_b.sum()), int((~side_b).sum())
    se = np.sqrt(rss / max(len(Y) - 3, 1) * (1 / n_a + 1 / n_b + shift[:, None] ** 2 / sxx[:, None]))
    t = sign[None, :] * (shift[None, :] - slope * shift[:, None]) / se
    np.fill_diagonal(t, np.inf)
    return t


def _cohen_d(less: np.ndarray, more: np.ndarray) -> float:
    pooled = np.sqrt((less.var() + more.var()) / 2)
    gap = more.mean() - less.mean()
    return float(gap / pooled) if pooled > 0 else float(np.sign(gap) * 1e9)


def choose_parents(findings: Sequence[Finding], order: Sequence[int],
                   discovery: Half) -> tuple[dict[int, tuple[int, ...]], dict[int, tuple[int, ...]]]:
    """Each claim's parents and its later kin, fixed on the discovery half.

    parents[i] : the head of its family (the first earlier claim ranking the images of each set alike,
        r >= FAMILY_CORRELATION) and the earlier claims it correlates with most (|r| >= PARENT_CORRELATION);
        at most MAX_PARENTS
    later[i] : the later claims it correlates with most (|r| >= PARENT_CORRELATION), at most MAX_PARENTS
    """
    ranks = [_within_ranks(findings[i], discovery) for i in order]
    with np.errstate(invalid="ignore", divide="ignore"):  # a claim whose scores tie within a set correlates with none
        r = np.corrcoef(np.array(ranks)) if len(ranks) > 1 else np.ones((len(ranks), len(ranks)))
    r = np.nan_to_num(r)
    heads: list[int] = []
    parents, later = {}, {}
    for a, i in enumerate(order):
        family = next((h for h in heads if r[a, h] >= FAMILY_CORRELATION), None)
        near = sorted((b for b in range(a) if b != family and abs(r[a, b]) >= PARENT_CORRELATION),
                      key=lambda b: -abs(r[a, b]))
        parents[i] = tuple(order[b] for b in ([family] if family is not None else []) + near)[:MAX_PARENTS]
        after = sorted((b for b in range(a + 1, len(order)) if abs(r[a, b]) >= PARENT_CORRELATION),
                       key=lambda b: -abs(r[a, b]))
        later[i] = tuple(order[b] for b in after[:MAX_PARENTS])
        if family is None:
            heads.append(a)
    return parents, later


def explain(findings: Sequence[Finding], discovery: Half, heldout: Half, *, alpha: float = DEFAULT_ALPHA,
            replanter=None, seed: int = 0) -> list[Finding]:
    """Mark which findings are independent and nest the others; return them in report order, with ids.

    replanter : an spotdiff.analysis.replant.Replanter over the comparison's embedders, or None (regression only)
    """
    findings = list(findings)
    if replanter is not None:  # re-planting costs images x causes: at most MAX_PLANTED images of each set
        discovery, heldout = sampled(discovery, seed=seed), sampled(heldout, seed=seed + 1)
    tested = [i for i, f in enumerate(findings) if f.supported]
    causes = choose_causes([findings[i] for i in tested], discovery, replanter) if replanter is not None else []
    causes = [replace(c, index=tested[c.index]) for c in causes]
    echoing = echoing_causes(findings, causes, discovery, heldout, replanter, alpha=alpha, seed=seed)
    causes = [c for c in causes if c.index not in echoing]
    order = discovery_order([findings[i] for i in tested], discovery,
                            [tested.index(c.index) for c in causes])
    order = [tested[k] for k in order]
    parents, later = choose_parents(findings, order, discovery)
    p_cond = np.array([f.p_value for f in findings], dtype=np.float64)
    notes: dict[int, dict] = {}
    for i in order:
        f = findings[i]
        planted = [c for c in causes if c.index != i]
        half = replanter.variant(heldout, planted) if planted else heldout
        y, claimed = claim_data(f, half)
        shares = np.zeros(0)
        if parents[i]:
            X = np.column_stack([claim_data(findings[k], half)[0] for k in parents[i]])
            p_cond[i], shares = residual_shift_p(y, claimed, X, seed=seed + i)
        elif planted:
            p_cond[i] = _marginal_p(f, half)
        notes[i] = {"planted": planted, "half": half, "shares": shares, "parents": parents[i]}
    for i, (k, p, shares, apart) in echoing.items():  # a plantable claim that is an echo itself: nested under it
        if p >= p_cond[i]:
            p_cond[i] = p
            notes[i].update(shares=shares, parents=(k,), **({"aliased": k} if apart else {}))
    takers: set[int] = set()
    for i in order:  # a later claim that explains this one, and is not explained by it, takes its place
        if i in {c.index for c in causes} or i in takers:
            continue  # a re-planted cause stands or falls by the re-planting; a claim that took a place keeps it
        half = notes[i]["half"]
        y, claimed = claim_data(findings[i], half)
        for k in later[i]:
            x, claimed_k = claim_data(findings[k], half)
            p_ik, share = residual_shift_p(y, claimed, x[:, None], seed=seed + i)
            if p_ik > max(p_cond[i], alpha) and \
                    residual_shift_p(x, claimed_k, y[:, None], seed=seed + k)[0] <= SWAP_P:
                p_cond[i] = p_ik
                notes[i].update(shares=share, parents=(k,))
                takers.add(k)
    for k in order:  # a claim is not conditioned on the claims it explains
        own = tuple(j for j in parents[k] if notes[j]["parents"] != (k,))
        if own != parents[k] and notes[k]["parents"] == parents[k]:
            half = notes[k]["half"]
            y, claimed = claim_data(findings[k], half)
            if own:
                X = np.column_stack([claim_data(findings[j], half)[0] for j in own])
                p_cond[k], shares = residual_shift_p(y, claimed, X, seed=seed + k)
            else:
                p_cond[k], shares = (_marginal_p(findings[k], half) if notes[k]["planted"] else findings[k].p_value,
                                     np.zeros(0))
            notes[k].update(shares=shares, parents=own)
    for i in order:  # planting the causes makes most of its shift: their echo, whatever else moves the rest
        if notes[i]["planted"] and \
                reproduced_share(findings[i], heldout, notes[i]["half"])[0] >= REPRODUCED_ENOUGH:
            p_cond[i] = 1.0
    cause_indices = {c.index for c in causes}
    effects = {j: _discovery_effect(findings[j], discovery) for j in order}
    for i in order:  # an earlier claim the held-out sets do not overlap on: regression cannot show more
        if i in cause_indices:
            continue  # a re-planted cause stands or falls by the re-planting
        earlier = [j for j in order[:order.index(i)]  # not a claim that this one explains (it took its place)
                   if i not in notes[j]["parents"] and notes[j].get("aliased") != i]
        candidates = [k for k in (*notes[i]["parents"], *earlier) if effects[k] >= effects[i]]
        k = _apart_parent(findings, i, candidates, notes[i]["half"])
        if k is not None:
            p_cond[i] = 1.0
            notes[i]["aliased"] = k
    p_star = np.maximum(np.array([f.p_value for f in findings]), p_cond)
    weights = conditional_weights(findings, order, len(causes), discovery)
    supported = np.array([f.supported for f in findings], dtype=bool)
    independent = supported & (weighted_benjamini_hochberg(p_star, weights) <= alpha) if findings else supported
    is_cause = np.isin(np.arange(len(findings)), list(cause_indices))
    independent |= is_cause & selective_rejections(p_star, weights, supported, alpha)
    out = []
    for i, f in enumerate(findings):
        fields = {"p_conditional": float(p_cond[i]), "independent": bool(independent[i])}
        if f.supported and not fields["independent"] and i in notes:
            fields.update(_explanation(f, notes[i], notes[i]["parents"], findings, heldout, replanter))
        out.append(replace(f, **fields))
    return report_order(out)


def echoing_causes(findings: Sequence[Finding], causes: Sequence, discovery: Half, heldout: Half, replanter, *,
                   alpha: float = DEFAULT_ALPHA, seed: int = 0) -> dict[int, tuple[int, float, np.ndarray, bool]]:
    """The causes that are echoes themselves: {cause index: (the claim it echoes, p, shares, aliased)}.

    A cause is chosen because planting its edit reproduces its own shift; that shows what the edit would
    explain, not that nothing explains the edit's claim: gradient backgrounds make images "blurrier", and
    planting blur reproduces that claim. So each cause is tested like any claim against the claims that
    are not causes: a claim at least as strong on the discovery half whose scores it follows within each set,
    towards the sets' shift (r >= PARENT_CORRELATION on the discovery half: an echo moves with what it echoes;
    a claim moving against it, as images with greener objects are less warm, is no echo of it), and which
    planting the cause's edit does not reproduce (at least REPRODUCED_ENOUGH would make that claim the
    echo). When the held-out sets overlap on that claim, and the claim keeps a shift of its own after the cause
    (at SWAP_P, as a claim that takes another's place must: "less blue" and "darker" explain each other, and the
    darkening stays the cause), the cause's held-out shift left after it (regression within the sets, the other
    causes planted, as for every claim) must be significant at ``alpha``; when
    they do not, the regression only extrapolates and the cause is aliased with it. A cause that fails is
    not planted for the other claims' tests and is nested under the claim it echoes."""
    if replanter is None or not causes:
        return {}
    cause_indices = {c.index for c in causes}
    others = [i for i, f in enumerate(findings) if f.supported and i not in cause_indices]
    effects = {i: _discovery_effect(findings[i], discovery) for i in (*others, *cause_indices)}
    ranks = {i: _within_ranks(findings[i], discovery) for i in (*others, *cause_indices)}
    out = {}
    for c in causes:
        half = replanter.variant(heldout, [d for d in causes if d.index != c.index])
        y, claimed = claim_data(findings[c.index], half)
        r = {k: _correlation(ranks[c.index], ranks[k]) for k in others if effects[k] >= effects[c.index]}
        for k in sorted((k for k in r if r[k] >= PARENT_CORRELATION), key=lambda k: -r[k]):
            x, claimed_k = claim_data(findings[k], half)
            apart = _apart(x, claimed)
            p, shares = (1.0, np.ones(1)) if apart else residual_shift_p(y, claimed, x[:, None], seed=seed + c.index)
            if not apart and residual_shift_p(x, claimed_k, y[:, None], seed=seed + k)[0] > SWAP_P:
                continue  # the cause explains that claim as well as it explains the cause: no reason to prefer it
            if p > alpha and reproduced_share(findings[k], heldout,
                                              replanter.variant(heldout, [c]))[0] < REPRODUCED_ENOUGH:
                out[c.index] = (k, p, shares, apart)
                break
    return out


def _within_ranks(f: Finding, half: Half) -> np.ndarray:
    s_a, s_b = half_scores(f.hypothesis, half)[:2]
    sign = 1.0 if f.more_in == "b" else -1.0
    return within_set_ranks(sign * s_a, sign * s_b)


def _correlation(u: np.ndarray, v: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nan_to_num(np.corrcoef(u, v)[0, 1]))


def _explanation(f: Finding, note: dict, parents: Sequence[int], findings: Sequence[Finding], heldout: Half,
                 replanter) -> dict:
    """What accounts for a supported finding that is not independent: {side_effect_of or aliased_with: index}."""
    best = None
    for c in note["planted"]:
        share = reproduced_share(f, heldout, replanter.variant(heldout, [c]))
        if share[0] > 0 and (best is None or share[0] > best[1][0]):
            best = (c, share)
    replanted = {} if best is None else {"side_effect_of": best[0].index, "reproduced": best[1],
                                         "replanted": (best[0].edit, best[0].into, best[0].strength)}
    if best is not None and (best[1][0] >= REPRODUCED_ENOUGH or not len(parents)):
        return replanted
    if note.get("aliased") is not None:
        return {"aliased_with": note["aliased"]}
    if len(parents):
        k = parents[int(np.argmax(note["shares"]))]
        x, claimed = claim_data(findings[k], note["half"])
        return {"aliased_with" if _apart(x, claimed) else "side_effect_of": k}
    return {}


def _apart_parent(findings: Sequence[Finding], i: int, candidates: Sequence[int], half: Half) -> int | None:
    """The first of ``candidates`` whose scores separate claim i's two sets completely on ``half``, or None."""
    claimed = claim_data(findings[i], half)[1]
    return next((k for k in candidates if _apart(claim_data(findings[k], half)[0], claimed)), None)


def _apart(x: np.ndarray, claimed: np.ndarray) -> bool:
    """Do the scores ``x`` of the claimed set and of the other set not overlap at all?"""
    return bool(x[claimed].min() > x[~claimed].max() or x[claimed].max() < x[~claimed].min())


def _discovery_effect(f: Finding, discovery: Half) -> float:
    less, more = half_scores(f.hypothesis, discovery)[2:]
    return round(claim_effect(f.hypothesis, less, more), 2)


def conditional_weights(findings: Sequence[Finding], order: Sequence[int], n_causes: int,
                        discovery: Half) -> np.ndarray:
    """The weights of the BH on p*: each claim's weight (its discovery effect), times how much of its discovery
    shift the earlier claims in the test order leave standing (the least residual t of :func:`residual_t`
    over them, over 3, clipped to [0.1, 1], squared; 1 for the re-planted causes and the first claim); mean 1.
    From the discovery half only, so the false discovery rate of the independent findings stays at alpha; an
    echo, whose shift an earlier claim explains, gets a small share."""
    weights = np.array([f.weight for f in findings], dtype=np.float64)
    if len(order) > 1:
        t = residual_t([findings[i] for i in order], discovery)
        for a, i in enumerate(order):
            if a >= max(n_causes, 1):
                left = float(np.nan_to_num(t[:a, a].min(), nan=0.0, posinf=3.0))
                weights[i] *= float(np.clip(left / 3, 0.1, 1.0)) ** 2
    return weights / weights.mean() if len(weights) and weights.mean() > 0 else weights


def _decoder_rank(f: Finding) -> float:
    """The decoder's place for the claim (spotdiff.analysis.decoder: trained to put the cause of a difference before
    its echoes), or infinity for a claim it did not rank."""
    return f.hypothesis.rank if f.hypothesis.rank is not None else np.inf


def report_order(findings: Sequence[Finding]) -> list[Finding]:
    """Report order, with ids "f1", "f2", ...: each top-level supported finding (independent ones first; among
    them, those the decoder ranks first in its order, then the one accounting for most findings first, then by
    held-out AUROC), followed by what it explains; then the
    unsupported findings by q-value. side_effect_of / aliased_with (indices on the way in) become ids, and
    point at the top-level finding of the chain; ``via`` names the finding in between whose re-planting is the
    evidence, when there is one."""
    findings = list(findings)

    def root(i: int) -> int:
        seen = set()
        while findings[i].explained_by is not None and i not in seen:
            seen.add(i)
            i = findings[i].explained_by
        return i

    roots = {i: root(i) for i, f in enumerate(findings) if f.supported}
    top = [i for i in roots if roots[i] == i]
    n_explained = {t: sum(r == t for r in roots.values()) for t in top}
    marginal = {id(f): k for k, f in enumerate(sort_findings(findings))}
    top.sort(key=lambda t: (not findings[t].independent, _decoder_rank(findings[t]), -n_explained[t],
                            -round(findings[t].heldout_auroc, 2), -separation(findings[t]), marginal[id(findings[t])]))
    ranked = []
    for t in top:
        ranked.append(t)
        ranked.extend(sorted((i for i in roots if roots[i] == t and i != t), key=lambda i: marginal[id(findings[i])]))
    ranked.extend(sorted((i for i, f in enumerate(findings) if not f.supported),
                         key=lambda i: marginal[id(findings[i])]))
    ids = {i: f"f{k + 1}" for k, i in enumerate(ranked)}
    out = []
    for i in ranked:
        f = findings[i]
        link = {}
        if f.supported and roots[i] != i:
            kind = "aliased_with" if f.aliased_with is not None else "side_effect_of"
            link = {"side_effect_of": None, "aliased_with": None, kind: ids[roots[i]],
                    "via": ids[f.explained_by] if f.replanted is not None and f.explained_by != roots[i] else None}
        elif f.explained_by is not None:
            link = {"side_effect_of": None, "aliased_with": None}
        out.append(replace(f, id=ids[i], **link))
    return out


def report_key(f: Finding) -> tuple:
    """Sort key of the report order: by id when :func:`report_order` gave one, else supported first
    (spotdiff.analysis.validate.finding_order)."""
    return (0, int(f.id[1:]), ()) if f.id.startswith("f") and f.id[1:].isdigit() else (1, 0, finding_order(f))
