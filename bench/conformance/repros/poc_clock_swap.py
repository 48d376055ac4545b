"""Proof of concept for F3: make every reference to ``time.monotonic`` read a clock of our
choosing, references bound before the patch included, by swapping the C function behind the
function object (the ``PyMethodDef`` all references share), as time-machine does in C for
``time.time``. Pure Python (ctypes); checked on CPython 3.11, 3.12 and 3.13.

    python bench/conformance/repros/poc_clock_swap.py
"""

import ctypes
import time
from time import monotonic  # bound before the patch

PyCFunction = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.c_void_p)


class PyMethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


def method_def(builtin: object) -> PyMethodDef:
    """The PyMethodDef of a builtin function: PyCFunctionObject is PyObject_HEAD, then m_ml."""
    head = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
    address = ctypes.c_void_p.from_address(id(builtin) + head).value
    return PyMethodDef.from_address(address)


def main() -> None:
    definition = method_def(time.monotonic)
    real = PyCFunction(definition.ml_meth)  # the C function, still callable
    virtual_now = [1000.0]

    @PyCFunction
    def fake_monotonic(module: object, _unused: object) -> float:
        return virtual_now[0]  # must not raise: a ctypes callback cannot

    saved = definition.ml_meth
    definition.ml_meth = ctypes.cast(fake_monotonic, ctypes.c_void_p).value
    try:
        print("bound before the swap:", monotonic(), " time.monotonic:", time.monotonic())
        virtual_now[0] += 60
        print("after +60 s:          ", monotonic())
        print("the real clock, through the saved pointer:", real(time, None))
    finally:
        definition.ml_meth = saved
    print("restored:             ", monotonic())


if __name__ == "__main__":
    main()
