"""The plan comment as GitHub shows it: rendered by cmark-gfm (GitHub's own Markdown renderer,
the ``cmark-gfm`` command of Debian's package, with GitHub's extensions) and laid out by a
headless Chromium (Debian's ``chromium``). Each test needs its program and is skipped only
when that program is not installed (CI installs both).

cmark-gfm runs with ``--unsafe``: GitHub keeps the raw HTML it allows in a comment
(``<details>``, ``<summary>``, ``<code>``, comments) and so does ``--unsafe``, where the safe
mode would replace every tag; ``tagfilter`` still disarms the tags GitHub filters.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.cli.plancomment import plan_failed_markdown, plan_markdown
from reconciler.core.kinds import JobKind
from reconciler.core.plan import Plan
from reconciler.core.planner import build_plan
from reconciler.core.state import State
from tests.test_render import OBSERVED_AT, _desired, _spec, every_kind_plan

CMARK = shutil.which("cmark-gfm")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_cmark = pytest.mark.skipif(CMARK is None, reason="cmark-gfm is not installed")
needs_chromium = pytest.mark.skipif(
    CMARK is None or CHROMIUM is None, reason="cmark-gfm or chromium is not installed"
)

COMMENT_WIDTH = 760
"""About the width of a comment's body in a pull request's conversation (GitHub's layout)."""
_PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; padding: 16px; background: #fff; }}
.markdown-body {{ width: {width}px; font: 14px/1.5 "DejaVu Sans", "Noto Color Emoji",
  sans-serif; color: #1f2328; }}
table {{ border-collapse: collapse; display: block; width: max-content; max-width: 100%;
  overflow: auto; margin: 8px 0; }}
th, td {{ border: 1px solid #d0d7de; padding: 6px 13px; }}
tr:nth-child(2n) {{ background: #f6f8fa; }}
code {{ background: rgba(175,184,193,.2); border-radius: 6px; padding: .2em .4em;
  font: 85% "DejaVu Sans Mono", monospace; }}
pre {{ background: #f6f8fa; padding: 16px; overflow: auto; border-radius: 6px; }}
pre code {{ background: none; padding: 0; }}
blockquote {{ color: #59636e; border-left: .25em solid #d0d7de; margin: 0; padding: 0 1em; }}
</style></head><body><div class="markdown-body">
{body}
</div>{script}</body></html>
"""
"""A page laid out as GitHub lays a comment out: tables as blocks that scroll sideways when
they are wider than the column (GitHub's own CSS), code blocks that scroll."""
_MEASURE = """<script>
for (const d of document.querySelectorAll("details")) d.open = true;
const wide = [...document.querySelectorAll("table")]
  .filter((t) => t.scrollWidth > t.clientWidth + 1)
  .map((t) => t.querySelector("th, td") ? t.rows[0].innerText.trim() : "?");
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify({tables: document.querySelectorAll("table").length, wide});
document.body.appendChild(out);
</script>"""


def _html(markdown: str) -> str:
    assert CMARK is not None
    extensions = ["-e", "table", "-e", "strikethrough", "-e", "autolink", "-e", "tagfilter"]
    done = subprocess.run(
        [CMARK, *extensions, "--unsafe"],
        input=markdown,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def _chromium(tmp_path: Path, page: Path, *action: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",  # fresh: nothing of another run
            "--hide-scrollbars",
            f"--window-size={COMMENT_WIDTH + 32},2400",
            *action,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _comments() -> dict[str, tuple[str, Plan | None]]:
    """The comments a reviewer meets: every kind of action, an offline plan, two kinds in two
    domains (every column), a plan too long for one comment, and a plan that failed."""
    plan = every_kind_plan()
    first = plan.actions[0]
    spread = Plan(
        (
            *plan.actions,
            replace(first, spec_kind=JobKind.REGISTRATION, name="fraudsters-batch"),
            replace(first, domain_id="Dom2Dom2Dom2Dom2Dom2Do", domain_name="contact-center-eu"),
        )
    )
    desired = [_desired(_spec(f"batch-{i:05d}", manifest=f"m{i}")) for i in range(3000)]
    large = build_plan(desired, State(), max_active=1)
    return {
        "every-kind": (plan_markdown(plan, offline=False, observed_at=OBSERVED_AT), plan),
        "offline": (plan_markdown(plan, offline=True, observed_at=OBSERVED_AT), plan),
        "spread": (plan_markdown(spread, offline=False, observed_at=OBSERVED_AT), spread),
        "large": (plan_markdown(large, offline=False, observed_at=None), large),
        "failed": (
            plan_failed_markdown(
                [
                    "specs/a.yaml:6:3: unknown field 'spec.bogus'",
                    "specs/b.yaml:2:1: a value with `backticks` and <html> | pipes",
                ]
            ),
            None,
        ),
    }


@needs_cmark
@pytest.mark.parametrize("name", ["every-kind", "offline", "spread", "large", "failed"])
def test_comment_parses_as_github_renders_it(name: str) -> None:
    """Through cmark-gfm with GitHub's extensions: every table parses (as many tables as the
    Markdown has, each row as many cells as its head, no row left as a paragraph), the marker
    and checksum comments stay comments, every fold is closed and has its summary, each
    start's request is a code block, and no Markdown is left unparsed (``**``, backticks)."""
    markdown, plan = _comments()[name]
    html = _html(markdown)
    assert html.startswith("<!-- voiceid-reconciler plan -->\n")
    assert "&lt;!--" not in html
    if plan is not None:
        assert f"<!-- voiceid-reconciler checksum={plan.checksum()} -->" in html
    else:
        assert "checksum=" not in html
        assert "<strong>❌ Plan failed: nothing was planned</strong>" in html
        assert "a value with `backticks` and &lt;html&gt; | pipes" in html
    tables = html.split("<table>")[1:]
    assert len(tables) == len(re.findall(r"^\|---", markdown, re.M))
    for table in tables:
        rows = re.findall(r"<tr>(.*?)</tr>", table.split("</table>")[0], re.S)
        widths = {len(re.findall(r"<t[hd][ >]", row)) for row in rows}
        assert len(widths) == 1, widths
    assert not re.search(r"<p>\|", html)
    assert html.count("<details>") == html.count("</details>") == html.count("<summary>")
    starts = markdown.count("```diff\n")
    assert html.count('<code class="language-diff">') == starts
    assert starts == {"every-kind": 7, "offline": 7, "spread": 9}.get(name, starts)
    text = re.sub(r"<pre.*?</pre>", "", html, flags=re.S)
    assert "**" not in text
    assert "`" not in re.sub(r"<code>.*?</code>", "", text, flags=re.S).replace("`backticks`", "")


@needs_chromium
@pytest.mark.parametrize("name", ["every-kind", "spread", "large"])
def test_no_table_is_wider_than_a_comment(name: str, tmp_path: Path) -> None:
    """Laid out by Chromium in a comment's width, with every fold open, no table needs a
    sideways scroll (GitHub then hides the notes at its right edge, as the first comments
    did with their domain, kind and attempt columns)."""
    markdown, _ = _comments()[name]
    page = tmp_path / "comment.html"
    page.write_text(
        _PAGE.format(width=COMMENT_WIDTH, body=_html(markdown), script=_MEASURE),
        encoding="utf-8",
    )
    dom = _chromium(tmp_path, page, "--dump-dom", "--virtual-time-budget=2000")
    measured = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert measured is not None, dom[-2000:]
    result = measured.group(1).replace("&quot;", '"')
    assert '"wide":[]' in result, result
    tables = len(re.findall(r"^\|---", markdown, re.M))
    assert f'"tables":{tables}' in result, result


@needs_chromium
def test_screenshot_of_the_comment(tmp_path: Path) -> None:
    """Chromium takes a screenshot of the comment as GitHub would lay it out (a PNG as wide as
    the window). Set ``VOICEID_SCREENSHOT_DIR`` to keep it and look at it."""
    markdown, _ = _comments()["every-kind"]
    page = tmp_path / "comment.html"
    page.write_text(
        _PAGE.format(width=COMMENT_WIDTH, body=_html(markdown), script=""), encoding="utf-8"
    )
    png = tmp_path / "comment.png"
    _chromium(tmp_path, page, f"--screenshot={png}")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (COMMENT_WIDTH + 32, 2400)
    assert len(data) > 20_000  # a page of text, not a blank one
    keep = os.environ.get("VOICEID_SCREENSHOT_DIR")
    if keep:
        shutil.copy(png, Path(keep) / "plan-comment.png")
        shutil.copy(page, Path(keep) / "plan-comment.html")
