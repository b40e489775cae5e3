"""The planted-difference benchmark: suites of image-set pairs with known differences, a deterministic judge,
baselines beside spotdiff on the same embeddings, and the tables (``spotdiff bench``, benchmarks/planted.py).

    suites.py     which pairs, and what was planted in each
    judge.py      does a claim name a planted difference?
    baselines.py  spotdiff, VisDiff's embedding-only proposer, GSCLIP's t-test, spotdiff without held-out
    run.py        draw, embed once, answer, judge; write planted.json and planted.md
    summary.py    metrics, targets, Markdown tables
"""
