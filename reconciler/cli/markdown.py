"""The Markdown of one action in the plan comment: its row's cells and its start request.

A row's cells are a label, a note and the table's columns; a start request is shown as
``terraform plan`` shows a create. Text from the world is escaped, identifiers are code spans.
No speaker data: a roster is its speaker count.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.cli.render import action_status, roster_count, row_class
from reconciler.core import jobkinds
from reconciler.core.identity import StartRequest
from reconciler.core.plan import Action, ActionKind, Plan

_MARKDOWN_LABELS = {
    ActionKind.START: "🟢 start",
    ActionKind.RETRY: "🔁 retry",
    ActionKind.QUEUED: "⏳ queued",
    ActionKind.AWAITING_REVIEW: "⏸️ awaiting review",
    ActionKind.BLOCKED: "⛔ blocked",
    ActionKind.IN_SYNC: "✅ in sync",
    ActionKind.SUPERSEDED: "♻️ superseded",
    ActionKind.ORPHANED: "❔ orphaned",
    ActionKind.RETIRED: "🗄️ retired",
}
_MARKDOWN_PROBLEMS = {"failed": "❌ failed", "with errors": "⚠️ with errors"}


def _markdown_label(action: Action) -> str:
    label = _MARKDOWN_PROBLEMS.get(row_class(action), _MARKDOWN_LABELS[action.kind])
    return f"{label} ⚠️" if action.risks else label


def _risk_head(risk: str) -> str:
    """``existingEnrollmentAction OVERWRITE`` of ``existingEnrollmentAction OVERWRITE: re-enrolls
    speakers already enrolled``: the setting, without the explanation."""
    return risk.partition(":")[0]


def _markdown_note(action: Action) -> str:
    """Risky settings first (named; the "Settings to check" section explains them), then the
    job's status, why, what changed, the attempt and the job."""
    parts = [f"⚠️ **{escape(_risk_head(risk))}**" for risk in action.risks]
    if action.speakers is not None and action.kind is not ActionKind.IN_SYNC:
        parts.append(roster_count(action))
    status = action_status(action) if action.status else ""
    if (
        status
        and row_class(action) not in ("failed", "with errors")
        and status not in action.reason
    ):
        parts.append(escape(status))
    if action.reason:  # the label says "awaiting review" already
        parts.append(escape(action.reason.removeprefix("awaiting review: ")))
    if action.changes:
        parts.append(escape(f"changed: {', '.join(action.changes)}"))
    if action.attempt and action.attempt > 1 and f"attempt {action.attempt}" not in action.reason:
        parts.append(f"attempt {action.attempt}")
    if action.job_id and action.kind is not ActionKind.IN_SYNC:
        parts.append(f"job {code_span(action.job_id)}")
    return "; ".join(parts)


def _kind_word(kind: str) -> str:
    """The word for a kind (its spec section: ``enrollment``), else its wire string."""
    definition = jobkinds.KINDS.get(kind)
    return kind if definition is None else definition.section


def _markdown_domain(action: Action) -> str:
    """The domain's name when the state knows it (its id is in the start request), else its
    id: the table stays narrow enough for a pull request's column."""
    return code_span(action.domain_name or action.domain_id or "-")


@dataclass(frozen=True)
class Columns:
    """The columns of a comment's tables: the kind only when the plan holds both kinds, the
    domain only when it spans several (else said once, above the tables): narrow tables read
    whole in a pull request's column, where a wide one hides its notes behind a scroll bar."""

    kind: bool
    domain: bool

    @classmethod
    def of(cls, plan: Plan) -> Columns:
        return cls(
            kind=len({a.spec_kind for a in plan.actions}) > 1,
            domain=len({a.domain_id for a in plan.actions}) > 1,
        )

    def names(self) -> list[str]:
        return ["", "spec"] + ["kind"] * self.kind + ["domain"] * self.domain + ["note"]

    def head(self) -> list[str]:
        names = self.names()
        return [f"| {' | '.join(names)} |".replace("|  |", "| |"), "|---" * len(names) + "|"]

    def more(self, left: int) -> str:
        return f"| … | {left} more not shown |" + " |" * (len(self.names()) - 2)

    def row(self, action: Action) -> str:
        cells = [_markdown_label(action), code_span(action.name)]
        if self.kind:
            cells.append(_kind_word(action.spec_kind))
        if self.domain:
            cells.append(_markdown_domain(action))
        cells.append(_markdown_note(action))
        return f"| {' | '.join(cells)} |"


def request_details(action: Action) -> str:
    """One start as ``terraform plan`` shows a create: a folded block, its summary naming the
    spec, and the request it will send as attributes — in the spec's own field names, every
    default filled in, risky settings marked — in a ``diff`` block (GitHub colours it green).
    No speaker data: a roster is its speaker count and where apply stages its manifest."""
    # Inside <summary> Markdown is not read, only HTML: <code> and html.escape, not a code span.
    what = f"{_markdown_label(action)} <code>{html.escape(action.name)}</code>"
    kind = _kind_word(action.spec_kind)
    where = action.domain_name or action.domain_id
    domain = f" · {html.escape(where)}" if where else ""
    attempt = f" · attempt {action.attempt}" if action.attempt else ""
    lines = [f'{action.spec_kind} "{action.name}" {{']
    risks = list(action.risks)
    request = action.request
    if request is None:
        lines.append("    # known online only (a plan with Voice ID and S3 shows the request)")
        lines += [f"    # ⚠ {risk}" for risk in risks]
    else:
        body = _request_attributes(action, request)
        marked = []
        for key, value in body:
            note = ""
            if value.startswith('"'):  # a risky setting carries its value in the risk's head
                hits = [r for r in risks if value.strip('"') in _risk_head(r).split()]
                if hits:
                    note = f"  # ⚠ {hits[0].partition(': ')[2] or hits[0]}"
                    risks.remove(hits[0])
            marked.append((key, value + note))
        lines += [f"    # ⚠ {risk}" for risk in risks]  # a risk no attribute carries
        lines += _aligned(marked, "    ")
    lines.append("}")
    # A fence longer than any run of backticks inside: a value holding ``` cannot close the
    # block early and turn the rest of the comment into code, or code into Markdown.
    fence = "`" * max(3, longest_run(lines, "`") + 1)
    return "\n".join(
        [
            f"<details><summary>{what} · {kind}{domain}{attempt}</summary>",
            "",
            f"{fence}diff",
            # '+ ' on every line: GitHub colours a diff block's added lines green, as terraform
            # plan shows a create.
            *(f"+ {line}" for line in lines),
            fence,
            "",
            "</details>",
        ]
    )


def _request_attributes(action: Action, request: StartRequest) -> list[tuple[str, str]]:
    """``(key, value)`` lines of one request; nested blocks open with ``key {`` (value "{")
    and close with ``}`` (key "}")."""
    name = f"  # {action.domain_name}" if action.domain_name else ""
    body = [
        ("domain", _quoted(request.domain_id) + name),
        ("dataAccessRoleArn", _quoted(request.data_access_role_arn)),
        ("revision", str(request.revision)),
        ("input", "{"),
    ]
    digest = request.manifest_digest
    if digest is None or digest.startswith("etag:"):  # a manifest of the spec's own
        # The ETag is part of the hash: shown (shortened) so a reviewer sees which object was
        # planned.
        etag = f"  # ETag {digest.removeprefix('etag:').strip(chr(34))[:12]}" if digest else ""
        body.append(("  manifest", f"{_quoted(request.input_s3_uri)}{etag}"))
    else:  # an inline roster: how many, never who (its manifest is staged by apply)
        count = "" if action.speakers is None else f"{roster_count(action)}, "
        staged = request.input_s3_uri.rpartition("/")[0] + "/"
        body.append(("  roster", f"({count}staged under {_quoted(staged)})"))
    body += [
        ("}", ""),
        ("output", "{"),
        ("  s3Uri", _quoted(request.output_s3_uri)),
        ("  kmsKeyId", _quoted(request.kms_key_id)),
        ("}", ""),
    ]
    # The kind's own settings as its spec section reads (the configuration is named as that
    # section is: KindDef.config), every default filled in.
    body.append((jobkinds.of(request.kind).section, "{"))
    body += _settings(request.config, "  ")
    body.append(("}", ""))
    if action.attempt:
        body.append(("attempt", str(action.attempt)))
    if action.job_name:
        body.append(("JobName", _quoted(action.job_name)))
    if action.client_token:
        token = action.client_token
        # The token shortened to its head and its attempt suffix: enough to match it against a
        # log, not a wall of hex in the comment.
        body.append(("ClientToken", _quoted(f"{token[:16]}…{token[token.rfind('-') :]}")))
    return body


_DEFAULT_WATCHLIST = "(not set: the domain's default watchlist)"


def _quoted(value: object, unset: str = "(not set: Voice ID's default)") -> str:
    return unset if value is None else json.dumps(value, ensure_ascii=False)


def _settings(config: Mapping[str, Any], indent: str) -> list[tuple[str, str]]:
    """A configuration's members as ``(key, value)`` lines, a nested one as a block."""
    lines: list[tuple[str, str]] = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            lines.append((f"{indent}{key}", "{"))
            lines += _settings(value, indent + "  ")
            lines.append((f"{indent}}}", ""))
        elif key == "watchlistId":  # the id the spec's watchlist resolved to: shown as its field
            lines.append((f"{indent}watchlist", _quoted(value, _DEFAULT_WATCHLIST)))
        else:
            lines.append((f"{indent}{key}", _quoted(value)))
    return lines


def _aligned(body: list[tuple[str, str]], indent: str) -> list[str]:
    """Attributes aligned on ``=`` within each block, as ``terraform plan`` writes them."""
    out: list[str] = []
    group: list[tuple[str, str]] = []

    def nested(key: str) -> str:  # two spaces of the key's nesting: four of the block's
        return indent + "  " * (len(key) - len(key.lstrip(" ")))

    def flush() -> None:
        width = max((len(k.strip()) for k, _ in group), default=0)
        for key, value in group:
            out.append(f"{nested(key)}{key.strip():<{width}} = {value}")
        group.clear()

    for key, value in body:
        if value == "{" or key.strip() == "}":
            flush()
            out.append(f"{nested(key)}{key.strip()}" + (" {" if value == "{" else ""))
        else:
            group.append((key, value))
    flush()
    return out


def longest_run(lines: list[str], char: str) -> int:
    longest = 0
    for line in lines:
        run = 0
        for c in line:
            run = run + 1 if c == char else 0
            longest = max(longest, run)
    return longest


# Every character that formats, links, opens HTML or an entity, or splits a table cell: a
# failure message from Voice ID is shown as it was written, never as Markdown of its own.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>\[\]|~&#])")


def escape(text: str) -> str:
    """Text from the world (a reason, Voice ID's failure message) as literal Markdown in a
    table cell: punctuation that would format, link or open HTML is escaped, a line break
    becomes a space."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def code_span(text: str) -> str:
    """``text`` as a code span in a table cell (a ``|`` escaped: GFM splits cells first)."""
    fence = "`" * (longest_run([text], "`") + 1)
    # GFM strips one space at each end of a code span: the pad keeps a backtick at the edge of
    # the text from joining the fence.
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # '\|' even inside a code span: GFM splits a table row into cells before it reads code
    # spans.
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"
