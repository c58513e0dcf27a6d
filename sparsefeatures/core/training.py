"""What every trainer shares: its dtypes and devices, and checkpoints that are written atomically
and resumed only on the data and settings they belong to."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

DTYPES = {"float64": torch.float64, "float32": torch.float32}
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str, owner: str) -> torch.device:
    """The torch device of a setting `device` in DEVICES ("auto": CUDA when torch sees one, else
    the CPU); `owner` names the setting in the error raised when "cuda" is asked for and absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{owner} = 'cuda' but torch sees no CUDA device")
    return torch.device(device)


def fingerprint(*tensors: torch.Tensor, header: bytes = b"") -> str:
    """Hash of `header` and the tensors' values (as float64 on the CPU): a checkpoint stores it and
    is resumed only where it matches."""
    h = hashlib.sha256(header)
    for t in tensors:
        h.update(t.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary file in the same directory, then os.replace: a job killed while
    writing leaves the previous checkpoint whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            torch.save(state, stream)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
