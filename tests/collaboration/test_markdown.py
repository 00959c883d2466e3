"""Comments' Markdown: what renders, what the sanitiser removes, and the XSS canaries of the
hardening issue (tests/e2e/test_xss_canaries.py) run through a comment's text."""

import pytest
from django.template import Context, Template

from collaboration.markdown import render
from tests.collaboration.conftest import post, thread_url
from tests.e2e.test_xss_canaries import (
    IMG,
    JS_URL,
    LINK,
    SCRIPT,
    SEGMENTS,
    TAGS,
    TEMPLATE,
    TEXT,
    VERSIONS,
)

CANARIES = sorted({IMG, SCRIPT, TEMPLATE, LINK, JS_URL, TEXT, *SEGMENTS, *TAGS, *VERSIONS})
MARKDOWN_CANARIES = [
    f"[click]({JS_URL})",
    "[click](javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "![x](https://evil.example/track.png)",
    '<a href="https://ok.example" onclick="window.__xss=1">a</a>',
    "`<script>window.__xss=1</script>`",
    "```\n<img src=x onerror=window.__xss=1>\n```",
    "<style>body{display:none}</style>",
    '<iframe src="https://evil.example"></iframe>',
]


def dangerous(html: str) -> list[str]:
    """What a canary would leave behind had it become markup."""
    lowered = html.lower()
    found = [
        marker
        for marker in (
            "<img",
            "<script",
            "<svg",
            "<iframe",
            "<style",
            "onerror=",
            "onload=",
            "onclick=",
            "javascript:",
            "data:text",
            "vbscript:",
        )
        if marker in lowered.replace("&lt;", "").replace("&gt;", "") and marker in _markup(lowered)
    ]
    return found


def _markup(html: str) -> str:
    """The markup only: text between tags is escaped, so a canary left as text shows as
    &lt;…&gt; and its attributes sit outside any tag."""
    import re

    return " ".join(re.findall(r"<[^>]*>", html))


@pytest.mark.parametrize("canary", CANARIES + MARKDOWN_CANARIES)
def test_no_canary_becomes_markup(canary):
    html = render(canary, ["erik"])
    assert dangerous(html) == [], html
    assert "49" not in html or "49" in canary  # {{7*7}} stays as typed


def test_markdown_renders_emphasis_lists_quotes_code_and_safe_links():
    html = render(
        "*a* **b** `c`\n\n- one\n\n> quoted\n\n[site](https://example.org) <mailto:x@y.z>"
    )
    for part in (
        "<em>a</em>",
        "<strong>b</strong>",
        "<code>c</code>",
        "<li>one</li>",
        "<blockquote>",
        'href="https://example.org"',
        'href="mailto:x@y.z"',
    ):
        assert part in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_a_relative_or_unsafe_link_keeps_its_text_but_not_its_target():
    html = render("[home](/admin/) and [js](javascript:alert(1))")
    assert "href" not in html and "home" in html


def test_only_the_members_mentioned_render_as_mentions():
    html = render("@erik and @oscar, not `@erik` nor [@erik](https://x.org)", ["erik"])
    assert html.count('class="mention"') == 1 and "@oscar" in html


def test_the_filter_is_the_one_place_that_marks_html_safe():
    out = Template("{% load collaboration %}{{ body|markdown }}").render(Context({"body": IMG}))
    assert "&lt;img" in out and "<img" not in out


def test_the_canaries_stay_text_in_a_rendered_thread(client, use_case, personas):
    for canary in CANARIES + MARKDOWN_CANARIES:
        post(use_case, personas["expert"], canary)
    client.force_login(personas["owner"])
    html = client.get(thread_url(use_case, f"use_case:{use_case.pk}"), HTTP_HX_REQUEST="true")
    body = html.content.decode()
    assert html.status_code == 200
    assert dangerous(body.split('class="comments"', 1)[1]) == []


def test_no_title_or_other_attribute_survives_on_any_tag():
    html = render('[site](https://example.org "Click") and *x*')
    assert "title" not in html and 'href="https://example.org"' in html


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("@erik and @dana, @erik again", ["erik", "dana"]),
        ("not `@erik` in code", []),
        ("```\n@erik in a block\n```", []),
        ("a link [to @erik](https://x.example/@erik)", []),
        ("an address https://x.example/@erik, typed out", []),
        ("an autolink <https://x.example/@erik>", []),
        ("mail erik@example.org", []),
    ],
)
def test_names_are_taken_where_the_renderer_marks_mentions(source, names):
    from collaboration.markdown import names_in

    assert names_in(source) == names
    assert ('class="mention"' in render(source, ["erik", "dana"])) is bool(names)
