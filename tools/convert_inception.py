#!/usr/bin/env python3
"""Converts the FID Inception-v3 weights from .pth to .safetensors for pgan.

pytorch-fid publishes the weights of the FID network as
pt_inception-2015-12-05-6726825d.pth, written by torch.save in its legacy
(pre-1.6) format. LibTorch reads only the zip format, and LibTorch 1.13 cannot
unpickle the OrderedDict that state_dict() returns even there, so pgan reads
the weights from a .safetensors file that this script writes:

    python3 tools/convert_inception.py pt_inception-2015-12-05-6726825d.pth \
        inception-2015-12-05.safetensors

Needs PyTorch (any version that can torch.load the file). Uses the
`safetensors` package when it is installed, otherwise writes the format
itself. Every tensor of the file is kept, as float32 where it was float32;
pgan ignores fc.* and num_batches_tracked.
"""

import argparse
import ctypes
import hashlib
import json
import os
import re
import struct
import sys

FID_CLASSES = 1008

_DTYPES = {
    "float32": "F32",
    "float64": "F64",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_state_dict(path):
    import torch

    try:
        # Tensors only: no code in the file runs.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # PyTorch before 1.13 has no weights_only.
        state = torch.load(path, map_location="cpu")
    if not isinstance(state, dict):
        sys.exit(f"{path}: expected a dict of tensors, found {type(state)}")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            sys.exit(f"{path}: {key!r} is a {type(value)}, not a tensor")
        out[str(key)] = value.detach().to("cpu").contiguous()
    return out


def tensor_bytes(tensor):
    # Raw memory of a contiguous CPU tensor, without needing NumPy.
    size = tensor.numel() * tensor.element_size()
    return ctypes.string_at(tensor.data_ptr(), size) if size else b""


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header length, JSON header, raw data."""
    if sys.byteorder != "little":
        sys.exit("safetensors data is little-endian; convert on such a host")
    header = {"__metadata__": metadata}
    offset = 0
    names = sorted(tensors)
    for name in names:
        tensor = tensors[name]
        dtype = str(tensor.dtype).replace("torch.", "")
        if dtype not in _DTYPES:
            sys.exit(f"{name}: dtype {dtype} has no safetensors name")
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _DTYPES[dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # Data starts 8-byte aligned.
    temp = path + ".tmp"
    with open(temp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name in names:
            f.write(tensor_bytes(tensors[name]))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pth", help="pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("output", help="where to write the .safetensors file")
    parser.add_argument(
        "--no-hash-check",
        action="store_true",
        help="skip comparing the file's SHA-256 with the digits in its name",
    )
    args = parser.parse_args()

    digest = sha256_of(args.pth)
    # torch.hub names files NAME-<first 8 hex digits of their SHA-256>.pth;
    # a mismatch is a damaged download.
    match = re.search(r"-([0-9a-f]{8,})\.pth$", os.path.basename(args.pth))
    claimed = match.group(1) if match and not args.no_hash_check else ""
    if not digest.startswith(claimed):
        sys.exit(
            f"{args.pth}: SHA-256 {digest} does not start with "
            f"{claimed} as its name says: download it again "
            "(or pass --no-hash-check)"
        )

    tensors = load_state_dict(args.pth)
    fc = tensors.get("fc.weight")
    if fc is not None and fc.shape[0] != FID_CLASSES:
        print(
            f"warning: fc.weight has {fc.shape[0]} classes, not "
            f"{FID_CLASSES}: these are not the FID Inception weights, and "
            "pgan will refuse them",
            file=sys.stderr,
        )
    metadata = {
        "format": "pt",
        "source": os.path.basename(args.pth),
        "source_sha256": digest,
    }
    try:
        from safetensors.torch import save_file
    except ImportError:
        write_safetensors(args.output, tensors, metadata)
    else:
        save_file(tensors, args.output, metadata=metadata)
    print(f"wrote {len(tensors)} tensors to {args.output}")


if __name__ == "__main__":
    main()
