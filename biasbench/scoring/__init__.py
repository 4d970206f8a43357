"""Scoring and statistics: group metrics with two-way cluster-bootstrap CIs, gaps, answer flips,
significance tests, power and controls, written as the tables of :mod:`biasbench.scoring.schema`.

Entry points: :func:`biasbench.scoring.score.score_run` (a run directory) and
:func:`biasbench.scoring.score.score_data` (already-loaded results).
"""
