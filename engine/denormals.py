"""Subnormal floats flushed to zero inside a compiled loop, as TensorFlow's CPU kernels run (and so
Keras 2's optimizers): :func:`flush_begin` / :func:`flush_end` for numba code.

Arithmetic that reads or makes a subnormal float (below about 1.2e-38 in float32) takes a
microcode assist on x86, some hundred cycles instead of one. Adam's second moment is the square
of the gradient, and once a model fits its training data many gradients fall below 1e-19: on
mlp's 1.3M optimizer entries, 40 percent of them subnormal made Adam's pass 9 times slower (0.83
-> 7.5 ms) and the training step 3 times slower. TensorFlow sets the CPU's flush-to-zero and
denormals-are-zero bits around its kernels; here the bits are set for one loop and the caller's
state is restored after it, so NumPy and everything else keep IEEE subnormals.

x86-64 only (the SSE control register, MXCSR); elsewhere both calls do nothing.
"""
from __future__ import annotations

import platform

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_FLUSH_TO_ZERO, _DENORMALS_ARE_ZERO = 0x8000, 0x0040
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _mxcsr_call(builder, name, pointer):
    i8p = ir.IntType(8).as_pointer()
    fn = builder.module.declare_intrinsic(name, fnty=ir.FunctionType(ir.VoidType(), [i8p]))
    builder.call(fn, [builder.bitcast(pointer, i8p)])


@intrinsic
def _read_mxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = builder.alloca(ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    def codegen(context, builder, signature, args):
        slot = builder.alloca(ir.IntType(32))
        builder.store(args[0], slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


if X86:
    @numba.njit(inline="always")
    def flush_begin():
        """Sets flush-to-zero and denormals-are-zero; returns the state :func:`flush_end` restores."""
        saved = _read_mxcsr()
        _write_mxcsr(saved | np.uint32(_FLUSH_TO_ZERO | _DENORMALS_ARE_ZERO))
        return saved

    @numba.njit(inline="always")
    def flush_end(saved):
        """Restores the state :func:`flush_begin` returned."""
        _write_mxcsr(saved)
else:  # pragma: no cover - depends on the machine
    @numba.njit(inline="always")
    def flush_begin():
        return np.uint32(0)

    @numba.njit(inline="always")
    def flush_end(saved):
        pass
