"""Policies at the limits: how a 10,000-rule policy (the core's ``MAX_RULES``; the daemon takes 5,000) compares to a
10-rule one, and what a catastrophic regex costs against a long body.

Run: ``.venv/bin/python benchmarks/bench_policy_size.py [--quick]``. Prints, for the compiled core and the
pure-Python twin: seconds to compile each policy, ns per decision, and the ratio to the 10-rule policy; then the
time of ``(a+)+$`` (RE2: linear, no backtracking) against 1 MB bodies. The policies and requests are
``bench_policy.py``'s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_policy import bench_requests, measure, policy_document, timing_budget

import policy_core
from policy_core.parse import MAX_RULES

SIZES = (10, 5_000, MAX_RULES)
REGEX_BODY_BYTES = 1_000_000


def implementations() -> list[str]:
    try:
        policy_core.compile_policy({"name": "probe"}, implementation="cython")
    except ImportError:
        print("compiled core: not built (run: python setup.py build_ext --inplace) - skipped")
        return ["python"]
    return ["cython", "python"]


def regex_seconds(implementation: str, body: bytes) -> float:
    policy = policy_core.compile_policy({"name": "regex", "default": "Allow", "rules": [
        {"name": "catastrophic", "effect": "Deny",
         "conditions": [{"field": "input.body", "operator": "regex", "value": "(a+)+$"}]}]},
        implementation=implementation)
    request = {"method": "POST", "url": "https://api.example.com/x", "headers": [], "body": body}
    start = time.perf_counter()
    policy.evaluate(request)
    return time.perf_counter() - start


def main() -> int:
    budget = timing_budget(__doc__.splitlines()[0])
    print(f"\n{'core':<8}{'rules':>7}{'compile s':>11}{'ns/decision':>14}{'vs 10 rules':>13}")
    for implementation in implementations():
        per_decision: dict[int, float] = {}
        for size in SIZES:
            start = time.perf_counter()
            policy = policy_core.compile_policy(policy_document(size), implementation=implementation)
            compiled = time.perf_counter() - start
            per_decision[size] = measure({"policy": policy.evaluate}, bench_requests(size), budget)["policy"]
            print(f"{implementation:<8}{size:>7}{compiled:>11.3f}{per_decision[size] * 1e9:>14,.0f}"
                  f"{per_decision[size] / per_decision[SIZES[0]]:>12.2f}x")
    print(f"\n(a+)+$ against {REGEX_BODY_BYTES:,} bytes")
    for implementation in implementations():
        no_match = regex_seconds(implementation, b"a" * REGEX_BODY_BYTES + b"!")
        match = regex_seconds(implementation, b"a" * REGEX_BODY_BYTES)
        print(f"  {implementation:<8} no match {no_match * 1000:8.1f} ms   match {match * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
