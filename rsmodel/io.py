"""Atomic file output: a reader never sees a half-written file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The temporary file lives in the same directory so the rename is atomic (POSIX).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN: not known, e.g. an imported view period's
    maximum elevation) replaced by None, so the file is standard JSON (``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: strict_json(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(value) for value in obj]
    return obj


def write_json(path: str | Path, obj: Any) -> Path:
    """Write standard JSON (indented, UTF-8; NaN/inf written as null) atomically."""
    text = json.dumps(strict_json(obj), indent=2, default=str, allow_nan=False)
    return write_text(path, text + "\n")


def write_netcdf(path: str | Path, dataset: Any) -> Path:
    """Write an ``xarray.Dataset`` as NetCDF4 (h5netcdf engine) atomically, numeric variables
    deflated (zlib level 1: a week's mostly-zero per-slot grids shrink ~30x, read back as is)."""
    encoding = {
        name: {"zlib": True, "complevel": 1}
        for name, variable in dataset.data_vars.items()
        if variable.ndim > 0 and variable.dtype.kind in "biuf"
    }
    return atomic_write(path, lambda p: dataset.to_netcdf(p, engine="h5netcdf", encoding=encoding))
