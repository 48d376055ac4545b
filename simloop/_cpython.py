"""The one module that changes CPython's own objects from below, with ``ctypes``.

Two things the determinism guards need cannot be done by setting attributes:

* Every reference to ``time.monotonic`` (``from time import monotonic`` bound at import, a
  ``timer=time.monotonic`` default argument, ``cachetools.TTLCache``'s default timer) is the
  same builtin function object, and that object calls the C function named in its
  ``PyMethodDef``, a static table entry all those references share. Swapping the C function in
  that entry for a callback reaches every reference, however old
  (:class:`SwappedBuiltin`). time-machine does the same in C for ``time.time``; here it is
  done from Python, for the clock functions that take no argument and cannot fail, because a
  ctypes callback cannot raise an exception into its caller.
* ``datetime.datetime.now`` and its relatives are methods of immutable C types. Their entries
  in the types' dictionaries can be replaced through the dict behind the read-only
  ``__dict__`` proxy, after which CPython must be told the type changed
  (:func:`type_dict`, :func:`type_modified`).

Everything here is specific to CPython; where it is not available (another implementation, a
CPython without ctypes, a layout this module does not recognise) each helper says so, and the
guards fall back to replacing module attributes.
"""

from __future__ import annotations

import _thread
import gc
import sys
import types
from collections.abc import Callable
from typing import Any

try:
    import ctypes
except ImportError:  # pragma: no cover - a CPython built without ctypes
    ctypes = None  # type: ignore[assignment]

#: Whether this interpreter's objects can be changed from below at all.
AVAILABLE = sys.implementation.name == "cpython" and ctypes is not None

_METH_NOARGS = 0x0004


if AVAILABLE:

    class _PyMethodDef(ctypes.Structure):
        _fields_ = [
            ("ml_name", ctypes.c_char_p),
            ("ml_meth", ctypes.c_void_p),
            ("ml_flags", ctypes.c_int),
            ("ml_doc", ctypes.c_char_p),
        ]

    # A METH_NOARGS C function: PyObject *(*)(PyObject *module, PyObject *unused).
    _NoArgsFunction = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.c_void_p)
    _new_builtin = ctypes.pythonapi.PyCFunction_NewEx
    _new_builtin.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
    _new_builtin.restype = ctypes.py_object
    _type_modified = ctypes.pythonapi.PyType_Modified
    _type_modified.argtypes = [ctypes.py_object]
    _type_modified.restype = None
    # PyCFunctionObject starts with PyObject_HEAD (a reference count and a type pointer),
    # then the pointer to its PyMethodDef.
    _HEAD = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)


def _method_def(function: types.BuiltinFunctionType) -> Any:
    """The ``PyMethodDef`` a builtin function calls through, or None if it does not look like
    one (the check that this CPython's layout is the one this module knows)."""
    if not AVAILABLE or type(function) is not types.BuiltinFunctionType:
        return None
    address = ctypes.c_void_p.from_address(id(function) + _HEAD).value
    if not address:
        return None
    definition = _PyMethodDef.from_address(address)
    name = definition.ml_name
    if name is None or name.decode("ascii", "replace") != function.__name__:
        return None
    if definition.ml_flags != _METH_NOARGS or not definition.ml_meth:
        return None
    return definition


class SwappedBuiltin:
    """A builtin function without arguments (``time.monotonic``) whose C implementation can be
    swapped for a Python function, in every reference to it at once.

    ``make_replacement(original)`` returns the replacement, given :attr:`original`, which calls
    the C implementation whatever the swap, at C speed; the replacement is called with no
    argument and must return what the builtin would. Raises ``ValueError`` where the swap
    cannot be done (see :func:`swappable`).
    """

    def __init__(
        self,
        function: Any,
        make_replacement: Callable[[Callable[[], Any]], Callable[[], object]],
    ) -> None:
        definition = _method_def(function)
        if definition is None:
            msg = f"cannot swap the implementation of {function!r} on this Python"
            raise ValueError(msg)
        self._definition = definition
        self._saved: int = definition.ml_meth
        # The original as a builtin of its own: a copy of the table entry, which the swap
        # does not touch, bound to the same module.
        self._copy = _PyMethodDef(definition.ml_name, definition.ml_meth, definition.ml_flags)
        #: The unswapped function.
        self.original: Callable[[], Any] = _new_builtin(
            ctypes.addressof(self._copy), function.__self__, function.__module__
        )
        original = self.original
        replacement = make_replacement(original)

        def callback(module: object, unused: object) -> object:
            # A ctypes callback must not raise: an exception would be printed and lost, and
            # the caller would get a SystemError. A failure reads the real clock instead, and
            # a Ctrl-C that arrived meanwhile is delivered again.
            try:
                return replacement()
            except KeyboardInterrupt:
                _thread.interrupt_main()
            except BaseException:  # noqa: BLE001 - see above
                pass
            return original()

        self._trampoline = _NoArgsFunction(callback)  # kept alive as long as the swap may be on
        self._address: int = ctypes.cast(self._trampoline, ctypes.c_void_p).value  # type: ignore[assignment]

    def swap(self) -> None:
        """From now on, every reference to the function calls ``replacement``."""
        self._definition.ml_meth = self._address

    def restore(self) -> None:
        """Give the function its C implementation back."""
        self._definition.ml_meth = self._saved

    @property
    def swapped(self) -> bool:
        return bool(self._definition.ml_meth == self._address)


def swappable(function: Any) -> bool:
    """Whether :class:`SwappedBuiltin` can swap ``function`` here."""
    return _method_def(function) is not None


def type_dict(owner: type) -> dict[str, Any] | None:
    """The writable dict behind a type's ``__dict__`` proxy (None where that cannot be had)."""
    if not AVAILABLE:
        return None
    referents = gc.get_referents(owner.__dict__)
    if len(referents) != 1 or not isinstance(referents[0], dict):
        return None
    found: dict[str, Any] = referents[0]
    return found


def type_modified(owner: type) -> None:
    """Tell CPython that ``owner``'s dict changed, so its attribute cache forgets old entries."""
    _type_modified(owner)
