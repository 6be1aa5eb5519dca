"""The printable page of a compliance export: one self-contained HTML document (inline CSS with print styles, no
script, nothing fetched), every value from the export escaped. What it shows is the JSON document's; the proof's
records themselves are in the JSON, which the auditor's script checks (docs/compliance.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_html"]

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1b1f24; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .25rem .5rem; border-bottom: 1px solid #e3e5ea; }
th { background: #f3f4f7; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dt { font-weight: 600; }
code, .hash { font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; }
.in-effect { color: #136f2b; font-weight: 600; } .not-in-effect { color: #9a3412; font-weight: 600; }
.muted { color: #5b6270; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; } tr { break-inside: avoid; } thead { display: table-header-group; }
  th { background: none; }
}
"""


def render_html(document: Mapping[str, Any]) -> str:
    """The page of ``document`` (an export's JSON document)."""
    scope = document.get("scope") or {}
    title = (f"Session {scope['sessionId']}" if "sessionId" in scope
             else f"Agent {scope.get('agentId')} from {scope.get('from')} to {scope.get('to')}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>Compliance export: {_text(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Compliance export: {_text(title)}</h1>",
        f'<p class="muted">{_text(document.get("kind"))}, generated {_text(document.get("generatedAt"))}</p>',
        _session(document.get("session")),
        _profile(document.get("agent") or {}, document.get("governanceProfile") or {}),
        "<h2>Summary</h2>", _pairs((document.get("summary") or {}).items()),
        "<h2>Controls</h2>", _controls(document.get("controls") or []),
        "<h2>Timeline</h2>", _timeline(document.get("timeline") or []),
        _chain(document.get("chain") or {}),
        "</body></html>",
    ]
    return "\n".join(parts)


def _text(value: Any) -> str:
    """A value as escaped text; null as an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return escape(", ".join(f"{k}={v}" for k, v in value.items()) or "\u2014")
    return escape(str(value))


def _pairs(items: Iterable[tuple[str, Any]], hashes: Sequence[str] = ()) -> str:
    rows = "".join(f'<dt>{_text(name)}</dt><dd class="{"hash" if name in hashes else "value"}">{_text(value)}</dd>'
                   for name, value in items)
    return f"<dl>{rows}</dl>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of cells already escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _session(session: Mapping[str, Any] | None) -> str:
    if not session:
        return ""
    shown = {key: session.get(key) for key in ("id", "agentId", "status", "createdAt", "expiresAt", "endedAt",
                                               "endReason", "endedBy", "policyName", "policyVersion", "metadata")}
    return "<h2>Session</h2>" + _pairs(shown.items()) + "<p>Counts: " + _text(session.get("counts")) + "</p>"


def _profile(agent: Mapping[str, Any], profile: Mapping[str, Any]) -> str:
    shadow = profile.get("shadowPolicy")
    shown = {
        "agent": f"{agent.get('name')} ({agent.get('id')})", "realm": agent.get("realm"),
        "policy": None if profile.get("policyName") is None
        else f"{profile['policyName']} v{profile.get('policyVersion')}",
        "shadow policy": None if not shadow else f"{shadow.get('policyName')} v{shadow.get('policyVersion')} "
                                                 f"since {shadow.get('since')}",
        **dict(profile.get("limits") or {}),
    }
    return "<h2>Agent and governance profile</h2>" + _pairs(shown.items())


def _controls(controls: Sequence[Mapping[str, Any]]) -> str:
    def row(control: Mapping[str, Any]) -> list[str]:
        status = str(control.get("status"))
        css = "in-effect" if status == "in effect" else "not-in-effect"
        return [f"<code>{_text(control.get('id'))}</code>", _text(control.get("title")),
                f'<span class="{css}">{_text(status)}</span>', _text(control.get("evidence"))]

    return _table(["Control", "Title", "Status", "Evidence"], (row(c) for c in controls))


def _timeline(timeline: Sequence[Mapping[str, Any]]) -> str:
    if not timeline:
        return '<p class="muted">No records.</p>'
    columns = ("auditId", "time", "action", "method", "url", "tool", "decision", "rule", "reason")
    return _table(["Record", "Time", "Action", "Method", "URL", "Tool", "Decision", "Rule", "Reason"],
                  ([_text(event.get(name)) for name in columns] for event in timeline))


def _chain(chain: Mapping[str, Any]) -> str:
    steps = chain.get("steps") or []
    head = chain.get("head") or {}
    shown = {
        "algorithm": chain.get("algorithm"), "anchor hash": chain.get("anchorHash"),
        "end hash": chain.get("endHash"), "head": f"record {head.get('id')}: {head.get('hash')}" if head else None,
        "steps": f"{len(steps)} ({sum('record' in s for s in steps)} records shown, the others by digest)",
        "verified by the daemon": chain.get("verified"),
    }
    return (
        "<h2>Audit chain inclusion proof</h2>" + _pairs(shown.items(), ("anchor hash", "end hash", "head"))
        + "<p>To verify: fetch this export as JSON (the same URL without <code>format=html</code>, or with "
        "<code>Accept: application/json</code>) and run <code>python3 verify_export.py export.json</code> "
        "(Vectra's <code>tests/tools/verify_export.py</code>, standard library only). It recomputes every shown "
        "record's hash, checks that each links to the hash before it, folds every step "
        "<code>h = SHA-256(h + contentDigest)</code> from the anchor hash to the chain's head at export time, and "
        "checks the session's own chain of records (<code>sessionPrevHash</code>). Compare the head hash it prints "
        "with one held outside the database (<code>GET /audit/verify</code>'s <code>headHash</code>, or "
        "<code>--head HASH</code>): only then is the fold tied to the log.</p>"
    )
