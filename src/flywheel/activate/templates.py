"""Message templates: Jinja2 in a sandbox, fed only the fields the sending role may see.

A template sees `person_id`, `coupon_code`, `coupon_value`, `coupon_min_order`, `coupon_valid_until`,
`journey`, and `traits` (the person's traits and scores of the latest scoring run, each disclosed at the
sending role's level), plus `name` (masked below L4). A missing field renders empty, never an error
in the middle of a send: the journey file was already checked for syntax when applied.
"""

from __future__ import annotations

import functools

from jinja2 import ChainableUndefined, meta
from jinja2.sandbox import SandboxedEnvironment


@functools.cache
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=False)


@functools.lru_cache(maxsize=256)
def _compiled(text: str):
    return environment().from_string(text)


def render(text: str, context: dict) -> str:
    return _compiled(text).render(**context).strip()


@functools.lru_cache(maxsize=256)
def fields_used(text: str) -> frozenset[str]:
    """The top-level names a template reads: a send whose texts read no person field (traits, tier,
    …) needs no one's traits fetched or disclosed."""
    return frozenset(meta.find_undeclared_variables(environment().parse(text)))
