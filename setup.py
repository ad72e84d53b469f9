"""Builds every Cython extension of the repository in place (`python setup.py build_ext --inplace`).

Package metadata lives in pyproject.toml. Each `*.pyx` below a paper folder becomes an extension
named after its path, e.g. `naturalspeech/monotonic_align/core.pyx` -> `naturalspeech.monotonic_align.core`;
each has a pure-PyTorch twin in the same folder, tested against it.
"""

from pathlib import Path

from setuptools import Extension, setup

SKIPPED_DIRS = {".venv", "build", ".git"}


def cython_extensions():
    sources = sorted(
        path for path in Path(".").glob("*/**/*.pyx") if not SKIPPED_DIRS.intersection(path.parts)
    )
    if not sources:
        return []  # no extension yet: Cython and a C compiler are not needed
    try:
        import numpy
        from Cython.Build import cythonize
    except ImportError as error:
        raise SystemExit(
            f"setup.py: {sources[0]} is a Cython extension; building it needs {error.name}: "
            "pip install 'cython>=3.0' numpy (install.sh does this when a .pyx exists)"
        ) from None

    extensions = [
        Extension(
            ".".join(source.with_suffix("").parts),
            [str(source)],
            include_dirs=[numpy.get_include()],
            extra_compile_args=["-O3"],
        )
        for source in sources
    ]
    return cythonize(extensions, language_level=3, quiet=True)


setup(ext_modules=cython_extensions())
