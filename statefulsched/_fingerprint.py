"""A fingerprint of a scheduler's static configuration, kept as a leaf and checked on `step`.

`eqx.tree_deserialise_leaves` (and any restore into a template, orbax's included) takes
the arrays from the checkpoint but the static fields (modes, strategies, callables) from
the template, so a scheduler saved with `mode="max"` would come back as `mode="min"`
without a word if the template said so. Each scheduler therefore stores, as an `int32`
leaf, a hash of its class and static fields; the leaf travels with the arrays and is
compared with the hash of the static fields the scheduler actually has: by every eager
`step` and `values` (in Python, once per leaf object), by `statefulsched.load`, and by
`statefulsched.verify`, which is the check to call after any other restore. Traced code
does not check it on its own: an in-graph check is a host callback, which costs about a
microsecond per `lax.scan` iteration and makes every jitted call wait for its result.
"""

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np


def describe_static(value: Any) -> Any:
    """A JSON-able description of a static field, the same in every process."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [describe_static(v) for v in value]
    if callable(value):
        # Not `repr`: it holds the object's address. Lambdas all share the name `<lambda>`.
        module = getattr(value, "__module__", None) or type(value).__module__
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return f"{module}.{name}"
    return repr(value)


def static_config(module: Any) -> dict[str, Any]:
    """The static fields of `module`, described."""
    return {
        f.name: describe_static(getattr(module, f.name))
        for f in dataclasses.fields(module)
        if f.metadata.get("static", False)
    }


def fingerprint(cls: type, statics: dict[str, Any]) -> int:
    """A 31-bit hash of the class and its static configuration (fits an `int32` leaf)."""
    text = json.dumps([f"{cls.__module__}.{cls.__qualname__}", statics], sort_keys=True)
    digest = hashlib.blake2b(text.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


@functools.cache
def _cached(cls: type, statics: tuple) -> int:
    names = [f.name for f in dataclasses.fields(cls) if f.metadata.get("static", False)]
    return fingerprint(cls, {name: describe_static(value) for name, value in zip(names, statics)})


def expected_fingerprint(module: Any) -> int:
    """The fingerprint `module`'s static fields call for (cached per class and configuration)."""
    statics = tuple(getattr(module, f.name) for f in dataclasses.fields(module) if f.metadata.get("static", False))
    try:
        return _cached(type(module), statics)
    except TypeError:  # an unhashable static field
        return fingerprint(type(module), static_config(module))


def walk(scheduler: Any) -> Iterator[Any]:
    """`scheduler` and every scheduler nested in it (the children of composites)."""
    nodes = [scheduler]
    while nodes:
        node = nodes.pop()
        yield node
        nodes.extend(reversed(getattr(node, "schedulers", ())))


def traced(scheduler: Any) -> bool:
    """Whether any fingerprint leaf in `scheduler` is a tracer (its value is not known yet)."""
    return any(isinstance(node.fingerprint, jax.core.Tracer) for node in walk(scheduler))


def mismatch(scheduler: Any) -> str | None:
    """Where a concrete `scheduler`'s fingerprint leaves differ from the expected ones, if anywhere.

    `None` if all match; `""` if the scheduler's own leaf differs; `" (its child `Name`)"`
    for the first child that differs. A batch built with `jax.vmap` has one leaf per
    member; every member must match.
    """
    for node in walk(scheduler):
        if np.any(np.asarray(node.fingerprint) != expected_fingerprint(node)):
            return "" if node is scheduler else f" (its child `{type(node).__name__}`)"
    return None


MISMATCH = (
    "the scheduler's static configuration (its modes, strategies or functions) is not the one its "
    "state was saved with: it was restored from a checkpoint into a template built with other "
    "arguments, which `eqx.tree_deserialise_leaves` and orbax silently accept. Build the template "
    "with the arguments of the saved scheduler; `statefulsched.load` says which ones differ."
)
