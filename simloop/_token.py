"""Replay tokens: a whole schedule in one short, copy-pasteable string.

A token holds what a :class:`~simloop.Trace` needs to be replayed: the seed, the loop settings
that shape the schedule (``shuffle``, ``timer_jitter``, ``start_time``) and the choices with
their option counts. Format ``sl1-<base64url>``: the version, then zlib-compressed unsigned
LEB128 varints. zlib's checksum catches a token damaged in copying.
"""

from __future__ import annotations

import base64
import binascii
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from simloop._errors import InvalidArgumentError, TraceFormatError
from simloop._trace import Trace

PREFIX = "sl1-"

_HAS_SEED = 1
_SHUFFLE = 2


def _zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzigzag(n: int) -> int:
    return n // 2 if n % 2 == 0 else -(n + 1) // 2


def _varints(values: list[int]) -> bytes:
    out = bytearray()
    for value in values:
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
        if not byte & 0x80:
            yield value
            value = shift = 0
    if shift:
        msg = "truncated"
        raise ValueError(msg)


def encode(trace: Trace) -> str:
    """The replay token of ``trace``."""
    flags = (_HAS_SEED if trace.seed is not None else 0) | (_SHUFFLE if trace.shuffle else 0)
    header = [
        flags,
        _zigzag(trace.seed or 0),
        trace.timer_jitter_ns,
        _zigzag(trace.start_time_ns),
        len(trace.choices),
    ]
    payload = _varints(header + trace.choices + trace.options)
    text = base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode("ascii").rstrip("=")
    return PREFIX + text


def decode(token: str) -> Trace:
    """A :class:`~simloop.Trace` (schedule only, no events) from a replay token."""
    if not isinstance(token, str) or not token.startswith(PREFIX):
        shown = token if isinstance(token, str) and len(token) < 40 else repr(token)[:40] + "..."
        msg = (
            f"not a simloop replay token: {shown!r} (tokens start with {PREFIX!r}; copy the "
            "whole token from the failure report)"
        )
        raise TraceFormatError(msg)
    body = token[len(PREFIX) :]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        values = list(_read_varints(raw))
        flags, seed, jitter_ns, start, count = values[:5]
        choices = values[5 : 5 + count]
        options = values[5 + count :]
        if len(choices) != count or len(options) != count:
            raise ValueError("wrong length")
    except (binascii.Error, zlib.error, ValueError):
        msg = (
            "corrupt replay token (damaged or cut short in copying?): copy the whole token "
            "from the failure report"
        )
        raise TraceFormatError(msg) from None
    trace = Trace(
        choices=choices,
        options=options,
        steps=0,
        start_time_ns=_unzigzag(start),
        end_time_ns=_unzigzag(start),
        seed=_unzigzag(seed) if flags & _HAS_SEED else None,
        scheduler="Replay",
        shuffle=bool(flags & _SHUFFLE),
        timer_jitter_ns=jitter_ns,
    )
    for i, (c, n) in enumerate(zip(choices, options, strict=True)):
        if c >= n:
            msg = f"corrupt replay token: choice {i} is {c} of only {n} options"
            raise TraceFormatError(msg)
    return trace


def as_recording(recording: Trace | str | os.PathLike[str]) -> Trace:
    """A recording from a trace, a replay token, or a trace file's path."""
    if isinstance(recording, Trace):
        return recording
    if isinstance(recording, str) and recording.startswith(PREFIX):
        return decode(recording)
    if isinstance(recording, (str, os.PathLike)):
        if not Path(recording).exists():
            msg = f"{os.fspath(recording)!r} is neither a replay token nor a trace file"
            raise TraceFormatError(msg)
        return Trace.load(recording)
    msg = f"`recording` must be a Trace, a replay token or a trace file path, not {recording!r}"
    raise InvalidArgumentError(msg)
