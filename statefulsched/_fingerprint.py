"""A fingerprint of a scheduler's static configuration, kept as a leaf and checked on `step`.

`eqx.tree_deserialise_leaves` (and any restore into a template, orbax's included) takes
the arrays from the checkpoint but the static fields (modes, strategies, callables) from
the template, so a scheduler saved with `mode="max"` would come back as `mode="min"`
without a word if the template said so. Each scheduler therefore stores, as an `int32`
leaf, a hash of its class and static fields; the leaf travels with the arrays, and every
`step` compares it with the hash of the static fields it actually has.
"""

import dataclasses
import hashlib
import json
from typing import Any


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


MISMATCH = (
    "the scheduler's static configuration (its modes, strategies or functions) is not the one its "
    "state was saved with: it was restored from a checkpoint into a template built with other "
    "arguments, which `eqx.tree_deserialise_leaves` and orbax silently accept. Build the template "
    "with the arguments of the saved scheduler; `statefulsched.load` says which ones differ."
)
