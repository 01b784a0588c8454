"""Builds Beacon's Cython extensions. Everything else lives in pyproject.toml.

The compiler directives and C flags below are the only place they are set; the
reasons are next to each. `BEACON_CYTHON_TRACE=1` adds line tracing for profiling
(slower; never for benchmarks).
"""

import glob
import os
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup

COMPILER_DIRECTIVES = {
    "language_level": 3,
    # Indexes into the packed vectors are validated at the edge of each command
    # (id ranges are checked before use), so per-access checks buy nothing.
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    # Every division in the engine has a non-negative numerator and a positive
    # denominator, where C truncation equals Python floor division; skip the
    # sign fix-ups and the zero check.
    "cdivision": True,
    # Signatures in docstrings, so help() and the docs show the real arguments.
    "embedsignature": True,
}
if os.environ.get("BEACON_CYTHON_TRACE") == "1":
    COMPILER_DIRECTIVES.update(linetrace=True, profile=True)

EXTRA_COMPILE_ARGS = [
    "-O3",  # the hot path is arithmetic over contiguous arrays
    "-std=c++17",
    "-Wno-unused-function",  # Cython emits helpers it may not use
]

def _have_headers(*names: str) -> bool:
    """Whether C headers are installed (the journal's C framing needs OpenSSL and zlib)."""
    dirs = [sysconfig.get_paths()["include"], "/usr/include", "/usr/local/include",
            *os.environ.get("CPATH", "").split(os.pathsep)]
    return all(any(os.path.exists(os.path.join(d, n)) for d in dirs if d) for n in names)


extensions = [
    Extension(
        "core._engine",
        ["core/_engine.pyx"],
        language="c++",
        extra_compile_args=EXTRA_COMPILE_ARGS,
        define_macros=[("CYTHON_TRACE", "1")] if os.environ.get("BEACON_CYTHON_TRACE") == "1" else [],
    ),
]

extensions.append(Extension(
    "simulators.market._kernel",
    ["simulators/market/_kernel.pyx"],
    # No fused multiply-add contraction and no fast-math: the same seed must give the same
    # bytes, whichever instructions the compiler would otherwise pick.
    extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-Wno-unused-function"],
    libraries=["m"],
))

# The FIX tag=value codec: on every order's path to a FIX broker and back.
extensions.append(Extension(
    "gateway.fix._codec",
    ["gateway/fix/_codec.pyx"],
    extra_compile_args=["-O3", "-Wno-unused-function"],
))

# Modules compiled from their own .py, typed by the .pxd beside it (an "augmenting" .pxd): the
# classes on every order's path (session, outbox, gateway, machine, order registry, journal,
# simulated broker; docs/compiled.md). A .pxd with a .py of the same name is the whole list
# (the Makefile and tests/test_compiled.py read it the same way; core/_engine.pxd types a .pyx).
#
# They keep Python's semantics: the engine's directives above (no index checks, C division)
# are safe only in the engine's own code, whose every index and division is checked at the
# edge of a command. In plain Python source a negative or stale index, or a floor division of
# a negative number, must behave as Python says (an IndexError, not a read past the end).
# Likewise a typed variable that holds None (a compiled class, or a struct read through its
# slots, docs/compiled.md): reading a field of it raises AttributeError, not a crash (nonecheck).
AUGMENTED_DIRECTIVES = {**COMPILER_DIRECTIVES, "boundscheck": True, "wraparound": True,
                        "initializedcheck": True, "cdivision": False, "nonecheck": True}
augmented = []
for pxd in sorted(glob.glob("core/*.pxd") + glob.glob("gateway/*.pxd") + glob.glob("gateway/*/*.pxd")
                  + glob.glob("simulators/*/*.pxd")):
    source = pxd[:-len(".pxd")] + ".py"
    if os.path.exists(source):
        augmented.append(Extension(
            source[:-len(".py")].replace("/", "."),
            [source],
            extra_compile_args=["-O2", "-Wno-unused-function"],
        ))

# The C layout of the msgspec structs the compiled modules read (a .pxd each), and the check on
# import that each struct still has it (docs/compiled.md).
for structs in ("core/structs.pyx", "simulators/broker/structs.pyx", "gateway/structs.pyx"):
    extensions.append(Extension(
        structs[:-len(".pyx")].replace("/", "."),
        [structs],
        extra_compile_args=["-O2", "-Wno-unused-function"],
    ))

# The interval policy's fsyncs, on a thread that never takes the GIL.
extensions.append(Extension(
    "gateway.journal._syncer",
    ["gateway/journal/_syncer.pyx"],
    extra_compile_args=["-O2", "-Wno-unused-function"],
))

# Optional: without OpenSSL or zlib headers the journal frames records in Python instead
# (same bytes, slower), as aiohttp does with its parsers.
if _have_headers("openssl/evp.h", "zlib.h"):
    extensions.append(Extension(
        "gateway.journal._framing",
        ["gateway/journal/_framing.pyx"],
        extra_compile_args=["-O3", "-Wno-unused-function"],
        libraries=["crypto", "z"],
    ))
else:
    print("beacon: OpenSSL/zlib headers not found; the journal will frame records in pure Python")

# A generated .c does not record the directives it was made with: the Makefile deletes the
# augmented modules' C before each build, so a tree built before a change of directives does
# not keep the old semantics.
setup(ext_modules=cythonize(extensions, compiler_directives=COMPILER_DIRECTIVES, annotate=False)
      + cythonize(augmented, compiler_directives=AUGMENTED_DIRECTIVES, annotate=False))
