"""`save` and `load`: crash-safe checkpoints of a train state that say what does not match.

A checkpoint file is

    statefulsched-checkpoint 1\\n
    <header length> <payload length> <sha256 of header + payload>\\n
    <header: JSON>
    <payload: `eqx.tree_serialise_leaves` of the tree>

The header describes every leaf (path, shape, dtype) and every scheduler in the tree
(class, static configuration, numeric configuration, number of param groups), so a load
into a template that does not match fails with a message naming the difference, rather
than loading the arrays into the wrong places or with the wrong static configuration.
"""

import dataclasses
import hashlib
import io
import json
import os
import tempfile
from typing import Any, TypeVar

import equinox as eqx
import jax
import numpy as np

from ._base import AbstractScheduler
from ._fingerprint import static_config

_MAGIC = b"statefulsched-checkpoint 1\n"
_CALL = "statefulsched.load"

Tree = TypeVar("Tree")


def _leaf_info(leaf: Any) -> dict[str, Any]:
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
        return {"shape": list(np.shape(leaf)), "dtype": str(leaf.dtype)}
    return {"type": type(leaf).__name__}


def _show(value: Any) -> str:
    return json.dumps(value)


def _scheduler_info(scheduler: AbstractScheduler) -> dict[str, Any]:
    state = set(type(scheduler)._state_fields) | {"fingerprint"}
    config = {}
    for f in dataclasses.fields(scheduler):
        value = getattr(scheduler, f.name)
        if f.metadata.get("static", False) or f.name in state or value is None or f.name == "schedulers":
            continue
        config[f.name] = np.asarray(value).tolist()
    return {
        "class": f"{type(scheduler).__module__}.{type(scheduler).__qualname__}",
        "static": static_config(scheduler),
        "config": config,
        "lr_shape": list(np.shape(scheduler.lr)),
        "children": [_scheduler_info(child) for child in getattr(scheduler, "schedulers", ())],
    }


def _describe(tree: Any) -> dict[str, Any]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    is_scheduler = lambda x: isinstance(x, AbstractScheduler)  # noqa: E731
    nodes = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_scheduler)[0]
    return {
        "leaves": [{"path": jax.tree_util.keystr(path), **_leaf_info(leaf)} for path, leaf in leaves],
        "schedulers": [
            {"path": jax.tree_util.keystr(path), **_scheduler_info(node)} for path, node in nodes if is_scheduler(node)
        ],
    }


def save(path: str | os.PathLike, tree: Any) -> None:
    """Save a train state (any pytree: model, optimizer state, schedulers...) to `path`, atomically.

    The file is written under a temporary name in the same directory, flushed to disk,
    then renamed over `path`: a crash or a kill at any moment leaves either the previous
    complete checkpoint or the new one, never a partial file under `path`.

    Load it with [`load`][]. The leaves are those `eqx.tree_serialise_leaves` writes; the
    header records what the template given to `load` must match.
    """
    payload = io.BytesIO()
    eqx.tree_serialise_leaves(payload, tree)
    payload = payload.getvalue()
    header = json.dumps(_describe(tree), sort_keys=True).encode()
    digest = hashlib.sha256(header + payload).hexdigest()
    content = _MAGIC + f"{len(header)} {len(payload)} {digest}\n".encode() + header + payload
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], bytes]:
    with open(path, "rb") as f:
        content = f.read()
    where = f"`{_CALL}({os.fspath(path)!r})`"
    if not content.startswith(_MAGIC):
        if content.startswith(b"statefulsched-checkpoint"):
            raise ValueError(f"{where}: the checkpoint was written by another version of statefulsched's format.")
        raise ValueError(f"{where}: not a statefulsched checkpoint (written by `statefulsched.save`).")
    line_end = content.find(b"\n", len(_MAGIC))
    try:
        header_length, payload_length, digest = content[len(_MAGIC) : line_end].decode().split(" ")
        header_length, payload_length = int(header_length), int(payload_length)
    except ValueError:
        raise ValueError(f"{where}: the checkpoint is corrupted (its length line is unreadable).") from None
    body = content[line_end + 1 :]
    if line_end < 0 or len(body) != header_length + payload_length:
        raise ValueError(
            f"{where}: the checkpoint is truncated or corrupted: {len(body)} bytes of content where its "
            f"header announces {header_length + payload_length}."
        )
    if hashlib.sha256(body).hexdigest() != digest:
        raise ValueError(f"{where}: the checkpoint is corrupted: its checksum does not match its content.")
    return json.loads(body[:header_length]), body[header_length:]


def _compare_schedulers(saved: dict, here: dict, path: str) -> None:
    name = here["class"].rsplit(".", 1)[-1]
    at = f"at `{path}`" if path else "at the root"
    if saved["class"] != here["class"]:
        raise ValueError(
            f"`{_CALL}`: the checkpoint holds a `{saved['class'].rsplit('.', 1)[-1]}` {at}, the template a `{name}`."
        )
    if saved["lr_shape"] != here["lr_shape"]:
        groups = lambda shape: 1 if not shape else shape[0]  # noqa: E731
        raise ValueError(
            f"`{_CALL}`: the `{name}` {at} has {groups(saved['lr_shape'])} param group(s) in the checkpoint, "
            f"{groups(here['lr_shape'])} in the template."
        )
    for kind in ("static", "config"):
        # In the order of the fields (a derived field like `rel_epsilon` after `threshold`).
        for key in [*here[kind], *(k for k in saved[kind] if k not in here[kind])]:
            a, b = saved[kind].get(key), here[kind].get(key)
            if a != b:
                raise ValueError(
                    f"`{_CALL}`: `{name}({key}=...)` {at} is {_show(a)} in the checkpoint but {_show(b)} in the "
                    "template; build the template with the arguments of the saved scheduler."
                )
    if len(saved["children"]) != len(here["children"]):
        raise ValueError(
            f"`{_CALL}`: the `{name}` {at} has {len(saved['children'])} schedulers in the checkpoint, "
            f"{len(here['children'])} in the template."
        )
    for i, (a, b) in enumerate(zip(saved["children"], here["children"])):
        _compare_schedulers(a, b, f"{path}.schedulers[{i}]")


def load(path: str | os.PathLike, like: Tree) -> Tree:
    """Load a checkpoint written by [`save`][] into the structure of `like`.

    `like` is a tree of the same structure as the one saved, e.g. a freshly initialised
    train state built with the same arguments; its arrays only give shapes and dtypes.
    The loaded arrays are strongly typed, like the schedulers' own, so the first `step`
    after a resume reuses the compiled step.

    **Raises** `ValueError`, saying what does not match, for a file that is not a
    checkpoint, is truncated or corrupted (checksum), or was saved from another tree:
    another scheduler class, static or numeric configuration or number of param groups,
    or leaves of other paths, shapes or dtypes.
    """
    saved, payload = _read(path)
    here = _describe(like)
    by_path = {s["path"]: s for s in saved["schedulers"]}
    for scheduler in here["schedulers"]:
        if scheduler["path"] not in by_path:
            raise ValueError(
                f"`{_CALL}`: the template has a scheduler at `{scheduler['path']}` and the checkpoint none; "
                f"its schedulers are at {[s['path'] for s in saved['schedulers']]}."
            )
        _compare_schedulers(by_path[scheduler["path"]], scheduler, scheduler["path"])
    saved_leaves, leaves = saved["leaves"], here["leaves"]
    for a, b in zip(saved_leaves, leaves):
        if a != b:
            raise ValueError(
                f"`{_CALL}`: the checkpoint's leaf `{a['path']}` ({_leaf_text(a)}) does not match the template's "
                f"`{b['path']}` ({_leaf_text(b)})."
            )
    if len(saved_leaves) != len(leaves):
        raise ValueError(f"`{_CALL}`: the checkpoint has {len(saved_leaves)} leaves, the template {len(leaves)}.")
    return eqx.tree_deserialise_leaves(io.BytesIO(payload), like)


def _leaf_text(info: dict[str, Any]) -> str:
    if "shape" in info:
        return f"{info['dtype']}{info['shape']}"
    return info["type"]
