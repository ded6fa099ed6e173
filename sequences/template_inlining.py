"""The template sandbox, with simple partials compiled into the templates that include them.

A message's text includes a few partials (`{% include "_greeting.txt" %}`). At render
time each include looks its template up and builds a new context from the current one:
about half of a text part's rendering. Here such an include is replaced, when the
template is compiled, by the partial's own statements, which render to the same text.

Only what renders the same is inlined: an include of a constant name, with context,
not `ignore missing`, of a partial that parses, escapes like the template including it,
and assigns nothing (no `set`, macro, block, import or extends, which an include keeps
to itself). Anything else stays an include and behaves as Jinja2 defines it. A partial
that changes makes the whole cache stale (`is_stale`), since templates hold its text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

# Statements an include keeps to itself, which inlined would reach the including template.
_OWN_SCOPE = (
    nodes.Assign, nodes.AssignBlock, nodes.Macro, nodes.Block, nodes.Extends,
    nodes.Import, nodes.FromImport,
)  # fmt: skip


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox; constant includes of simple partials are inlined."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # The partials inlined so far, each with its loader's "unchanged on disk?" check.
        self.inlined: dict[str, Callable[[], bool]] = {}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja2's one parse hook (`compile` and `parse` both call it).
        tree = super()._parse(source, name, filename)
        return _Inliner(self, name, ()).visit(tree)  # type: ignore[no-any-return]

    def is_stale(self) -> bool:
        """Whether a cached template or an inlined partial changed since it was read."""
        cached = list(self.cache.values()) if self.cache is not None else []
        return any(not t.is_up_to_date for t in cached) or any(
            not fresh() for fresh in self.inlined.values()
        )

    def forget(self) -> None:
        """Drop every compiled template and inlined partial (read again on next use)."""
        if self.cache is not None:
            self.cache.clear()
        self.inlined.clear()


class _Inliner(NodeTransformer):
    def __init__(self, env: Sandbox, name: str | None, within: tuple[str, ...]) -> None:
        self.env, self.name, self.within = env, name, within

    def visit_Include(self, node: nodes.Include) -> nodes.Node | list[nodes.Node]:
        partial = _constant_name(node)
        if partial is None or partial in self.within or self.env.loader is None:
            return node
        if _escapes(self.env, partial) != _escapes(self.env, self.name):
            return node
        try:
            source, filename, fresh = self.env.loader.get_source(self.env, partial)
            tree = _parse_plain(self.env, source, partial, filename)
        except (TemplateError, OSError, ValueError):
            return node  # missing or broken: the include says so when it renders
        if any(True for _ in tree.find_all(_OWN_SCOPE)):
            return node
        tree = _Inliner(self.env, partial, (*self.within, partial)).visit(tree)
        self.env.inlined[partial] = fresh or (lambda: True)
        return list(tree.body)


def _constant_name(node: nodes.Include) -> str | None:
    template = node.template
    plain = node.with_context and not node.ignore_missing
    if plain and isinstance(template, nodes.Const) and isinstance(template.value, str):
        return template.value
    return None


def _escapes(env: ImmutableSandboxedEnvironment, name: str | None) -> bool:
    autoescape = env.autoescape
    return bool(autoescape(name) if callable(autoescape) else autoescape)


def _parse_plain(
    env: ImmutableSandboxedEnvironment, source: str, name: str, filename: str | None
) -> nodes.Template:
    # Without inlining: the caller inlines the partial's own includes, knowing the chain.
    return ImmutableSandboxedEnvironment._parse(env, source, name, filename)
