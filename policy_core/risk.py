"""The risk scorer: how dangerous one request looks, in [0, 1], with each factor's share.

Factors (each a score in [0, 1]):

=================  ========  ===============================================================================
factor             weight    score
=================  ========  ===============================================================================
``method``         0.20      GET .1, HEAD/OPTIONS .05, POST .4, PATCH .5, PUT .6, DELETE .9, other .5
``path``           0.25      highest matching sensitive pattern: ``/users/all`` .95, ``/export`` ``/dump``
                             ``/bulk`` .9, ``/delete`` ``/remove`` ``/drop`` .85, ``/admin`` .8,
                             ``/config`` ``/settings`` ``/env`` .7; otherwise .1. A pattern matches a path
                             segment prefix, case-insensitively: ``/admin`` matches ``/v1/admin/x`` but not
                             ``/administrators``
``body_size``      0.05      0 up to 1 KiB, rising logarithmically to 1 at 10 MiB
``time_of_day``    0.05      .6 at night (22:00-06:00 UTC), .4 at the weekend (UTC), the higher of the two
``violations``     0.15      the agent's recent violation rate, saturating at 50 %
``request_rate``   0.10      requests in the last minute / 120
``rate_anomaly``   0.10      0 up to twice the agent's baseline rate, 1 at ten times it
``low_trust``      0.10      ``(0.5 - trust) / 0.5``: 0 for a neutral or trusted agent, 1 at trust 0
=================  ========  ===============================================================================

Score. The original scorer used the weighted mean alone, and a mean of eight factors cannot reach 0.8 unless
nearly all of them are extreme at once, so its HITL threshold never fired. Here the mean is combined with an
*action severity* term::

    mean      = Σ wᵢ·fᵢ / Σ wᵢ
    severity  = sqrt(method · path)                       # what the call does: DELETE /users/all ≈ .92
    behaviour = max(violations, low_trust, rate_anomaly)  # how the agent has been behaving
    escalated = severity · (0.75 + 0.25 · behaviour)
    score     = max(mean, escalated)

A destructive call by a well-behaved agent scores up to .75·severity (DELETE /users/all: .69, below the
neutral threshold .8); the same call by a low-trust agent with violations crosses it (trust .2, 30 %
violations: .83, against a threshold of .68 at that trust). A plain GET stays under .1.

Shares. ``RiskAssessment.factors`` holds each factor's weighted share of the mean, plus ``severity``: the amount
by which the escalated term exceeds the mean (0 when the mean wins). The shares sum to the score.

The scorer runs on every decision. It is compiled (``_risk_c.pyx``) with a pure-Python twin (``_risk_py.py``) of
identical behaviour, chosen at import like the evaluator (``VECTRA_PURE_PYTHON=1`` forces the twin); the property
tests hold the two to the same scores, bit for bit. The configuration and the result types live in
``_risk_model.py``, shared by both.
"""

from __future__ import annotations

from . import _risk_py
from ._risk_model import FACTORS, AgentHistory, RiskAssessment, RiskConfig
from ._twins import load

__all__ = ["FACTORS", "IMPLEMENTATION", "AgentHistory", "RiskAssessment", "RiskConfig", "RiskScorer"]

_impl, IMPLEMENTATION = load("_risk_c", _risk_py)
RiskScorer = _impl.RiskScorer
