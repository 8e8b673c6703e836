"""The intake's data files as deterministic ``.npz`` archives: the same arrays give the
same bytes anywhere (fixed time, system and mode in every member), so a test can tell
whether a shipped file is what a rebuild gives."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["npz_bytes"]

_FIXED_ARCHIVE_TIME: Final = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: Mapping[str, npt.NDArray[Any]], *, compress: bool = False) -> bytes:
    """``arrays`` as an archive ``numpy.load`` reads (no pickles); deflated when
    ``compress``, else stored."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ARCHIVE_TIME)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            info.compress_type = method
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()
