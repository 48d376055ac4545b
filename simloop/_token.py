"""Replay tokens: a whole schedule in one short, copy-pasteable string.

A token holds what a :class:`~simloop.Trace` needs to be replayed: the seed, the loop options
a replay must share (``shuffle``, ``timer_jitter``, limits...) and the choices with their
option counts and kinds. Format ``sl2-<base64url>`` of zlib-compressed data: a varint length
and a JSON header (seed, options, the kind names), then unsigned LEB128 varints: the number of
choices, the choices, their option counts and, per choice, its kind's index in the header's
list. zlib's checksum catches a token damaged in copying. Tokens of format ``sl1-`` (no kinds,
no options but shuffle, jitter and start time) are still read.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simloop._clock import NS_PER_SECOND
from simloop._errors import InvalidArgumentError, TraceFormatError
from simloop._options import check_settings
from simloop._text import shown
from simloop._trace import Trace

PREFIX = "sl2-"
_PREFIX_V1 = "sl1-"

_HAS_SEED = 1
_SHUFFLE = 2

#: Tokens longer than this are refused unread (a schedule of millions of choices belongs in a
#: trace file).
_MAX_TOKEN = 10_000_000


def _zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzigzag(n: int) -> int:
    return n // 2 if n % 2 == 0 else -(n + 1) // 2


def _varints(values: list[int]) -> bytes:
    out = bytearray()
    for value in values:
        if value < 0:
            msg = f"a token holds non-negative ints only, not {value}"
            raise InvalidArgumentError(msg)
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return bytes(out)


def _read_varints(data: bytes) -> Iterator[int]:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 70:
            msg = "varint too long"
            raise ValueError(msg)
        if not byte & 0x80:
            yield value
            value = shift = 0
    if shift:
        msg = "truncated"
        raise ValueError(msg)


def encode(trace: Trace) -> str:
    """The replay token of ``trace``."""
    kinds = trace.kinds
    names = sorted(set(kinds)) if kinds is not None else None
    header = json.dumps(
        {"seed": trace.seed, "settings": trace.settings, "kinds": names},
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    values = [len(header)]
    body = [len(trace.choices), *trace.choices, *trace.options]
    if kinds is not None and names is not None:
        index = {name: i for i, name in enumerate(names)}
        body += [index[kind] for kind in kinds]
    payload = _varints(values) + header + _varints(body)
    text = base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode("ascii").rstrip("=")
    return PREFIX + text


def _corrupt() -> TraceFormatError:
    return TraceFormatError(
        "corrupt replay token (damaged or cut short in copying?): copy the whole token "
        "from the failure report"
    )


def _unpack(body: str) -> bytes:
    try:
        return zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, zlib.error, ValueError):
        raise _corrupt() from None


def decode(token: str) -> Trace:
    """A :class:`~simloop.Trace` (schedule only, no events) from a replay token."""
    if not isinstance(token, str) or not token.startswith((PREFIX, _PREFIX_V1)):
        start = token if isinstance(token, str) and len(token) < 40 else shown(token)[:40] + "..."
        msg = (
            f"not a simloop replay token: {start!r} (tokens start with {PREFIX!r}; copy the "
            "whole token from the failure report)"
        )
        raise TraceFormatError(msg)
    if len(token) > _MAX_TOKEN:
        msg = f"replay token too long ({len(token)} characters): use the trace file instead"
        raise TraceFormatError(msg)
    raw = _unpack(token[len(PREFIX) :])
    try:
        trace = _decode_v1(raw) if token.startswith(_PREFIX_V1) else _decode_v2(raw)
    except (ValueError, TypeError, KeyError, RecursionError):
        raise _corrupt() from None
    except InvalidArgumentError as exc:
        msg = f"corrupt replay token: {exc}"
        raise TraceFormatError(msg) from None
    for i, (c, n) in enumerate(zip(trace.choices, trace.options, strict=True)):
        if c >= n:
            msg = f"corrupt replay token: choice {i} is {c} of only {n} options"
            raise TraceFormatError(msg)
    return trace


def _decode_v2(raw: bytes) -> Trace:
    prefix = next(_read_varints(raw[:10]), None)
    if prefix is None:
        raise ValueError("empty")
    start = len(_varints([prefix]))
    header = json.loads(raw[start : start + prefix].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header")
    seed = header["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed")
    settings = header["settings"]
    if not isinstance(settings, dict):
        raise ValueError("settings")
    settings = check_settings(settings)
    names = header["kinds"]
    values = list(_read_varints(raw[start + prefix :]))
    count = values[0]
    choices = values[1 : 1 + count]
    options = values[1 + count : 1 + 2 * count]
    kinds = None
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValueError("kinds")
        indices = values[1 + 2 * count :]
        if len(indices) != count:
            raise ValueError("wrong length")
        kinds = [names[i] for i in indices]
    elif len(values) != 1 + 2 * count:
        raise ValueError("wrong length")
    if len(choices) != count or len(options) != count:
        raise ValueError("wrong length")
    start_ns = round(float(settings.get("start_time", 0.0)) * NS_PER_SECOND)
    return Trace(
        choices=choices,
        options=options,
        steps=0,
        start_time_ns=start_ns,
        end_time_ns=start_ns,
        seed=seed,
        scheduler="Replay",
        kinds=kinds,
        settings=settings,
    )


def _decode_v1(raw: bytes) -> Trace:
    values = list(_read_varints(raw))
    flags, seed, jitter_ns, start, count = values[:5]
    choices = values[5 : 5 + count]
    options = values[5 + count :]
    if len(choices) != count or len(options) != count:
        raise ValueError("wrong length")
    settings: dict[str, Any] = {}
    if flags & _SHUFFLE:
        settings["shuffle"] = True
    if jitter_ns:
        settings["timer_jitter"] = jitter_ns / NS_PER_SECOND
    start_ns = _unzigzag(start)
    if start_ns:
        settings["start_time"] = start_ns / NS_PER_SECOND
    return Trace(
        choices=choices,
        options=options,
        steps=0,
        start_time_ns=start_ns,
        end_time_ns=start_ns,
        seed=_unzigzag(seed) if flags & _HAS_SEED else None,
        scheduler="Replay",
        settings=check_settings(settings),
    )


def as_recording(recording: Trace | str | os.PathLike[str]) -> Trace:
    """A recording from a trace, a replay token, or a trace file's path."""
    if isinstance(recording, Trace):
        return recording
    if isinstance(recording, str) and recording.startswith((PREFIX, _PREFIX_V1)):
        return decode(recording)
    if isinstance(recording, (str, os.PathLike)):
        if not Path(recording).exists():
            msg = f"{os.fspath(recording)!r} is neither a replay token nor a trace file"
            raise TraceFormatError(msg)
        return Trace.load(recording)
    msg = (
        f"`recording` must be a Trace, a replay token or a trace file path, not {shown(recording)}"
    )
    raise InvalidArgumentError(msg)
