"""Comments' Markdown as safe HTML: markdown-it-py (CommonMark, raw HTML off) renders it, nh3
(ammonia) keeps only an allow-list of tags and attributes (no title, lang or any other on
every tag), and links only to http(s) and mailto. The template filter in
templatetags/collaboration.py is the one caller that marks the result safe.

Mentions are found and rendered by the same walk over the parsed text (`_texts`): a name
notifies its member exactly where it shows as a mention, never inside code or a link."""

from __future__ import annotations

import html
from collections.abc import Iterator

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from collaboration.mentions import MAX_MENTIONS, MENTION

TAGS = {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "a", "br", "span"}
# "*": the attributes every tag may have; empty, or ammonia keeps its defaults (title, lang).
ATTRIBUTES: dict[str, set[str]] = {"*": set(), "a": {"href"}}  # span: its class (CLASSES)
CLASSES = {"span": {"mention"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer"

_parser = MarkdownIt("commonmark", {"html": False})


def render(source: str, mentioned: list[str] | tuple[str, ...] = ()) -> str:
    """Sanitised HTML of `source`; the names in `mentioned` (members, checked when posted)
    are marked as mentions, any other @name stays as typed."""
    tokens = _parser.parse(source or "")
    if mentioned:
        for token in tokens:
            if token.type == "inline" and token.children:
                token.children = _with_mentions(token.children, set(mentioned))
    raw = _parser.renderer.render(tokens, _parser.options, {})
    return nh3.clean(
        raw,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        url_relative="deny",
    )


def names_in(source: str) -> list[str]:
    """The names `source` mentions where render() would mark them (in text, not in code nor
    in a link), in order, each once (at most MAX_MENTIONS)."""
    names: list[str] = []
    for token in _parser.parse(source or ""):
        if token.type != "inline" or not token.children:
            continue
        for child, is_text in _texts(token.children):
            if is_text:
                names.extend(m.group(1) for m in MENTION.finditer(child.content))
    return list(dict.fromkeys(names))[:MAX_MENTIONS]


def _texts(children: list[Token]) -> Iterator[tuple[Token, bool]]:
    """Each inline token, and whether it is text a mention may be in: a text token outside
    links (code spans and links' URLs are other tokens, or attributes)."""
    in_link = 0
    for token in children:
        in_link += token.nesting if token.type in ("link_open", "link_close") else 0
        yield token, token.type == "text" and not in_link and "@" in token.content


def _with_mentions(children: list[Token], names: set[str]) -> list[Token]:
    """Text tokens outside links split around each mention of a name in `names`."""
    result = []
    for token, is_text in _texts(children):
        if not is_text:
            result.append(token)
            continue
        position = 0
        for match in MENTION.finditer(token.content):
            if match.group(1) not in names:
                continue
            result.append(_text(token.content[position : match.start()]))
            mention = Token("html_inline", "", 0)
            mention.content = f'<span class="mention">@{html.escape(match.group(1))}</span>'
            result.append(mention)
            position = match.end()
        result.append(_text(token.content[position:]))
    return result


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token
