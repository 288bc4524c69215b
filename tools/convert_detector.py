#!/usr/bin/env python3
"""Writes NVIDIA's metric detectors as TorchScript files for pgan.

The reference (projected_gan, like StyleGAN3) downloads its metric networks as pickles:
inception-2015-12-05.pkl (FID, KID) and vgg16.pkl (precision/recall). StyleGAN2-ADA published
the same TorchScript modules as inception-2015-12-05.pt and vgg16.pt, which pgan reads directly
(--inception, --vgg16). This script turns a .pkl into the .pt once:

    python3 tools/convert_detector.py inception-2015-12-05.pkl inception-2015-12-05.pt
    python3 tools/convert_detector.py vgg16.pkl vgg16.pt

Needs PyTorch (the version the pickle was made for or newer), and, when the pickle refers to
them, the reference's dnnlib and torch_utils on PYTHONPATH. It saves the pickled module as
TorchScript (scripting it first if it is a plain nn.Module), loads the result back, and checks
that forward(images, return_features=True) on two uint8 images gives [2, D] features.
"""

import argparse
import pickle
import sys

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('pkl', help='inception-2015-12-05.pkl or vgg16.pkl')
    parser.add_argument('out', help='the .pt file to write')
    args = parser.parse_args()
    try:
        with open(args.pkl, 'rb') as f:
            detector = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ImportError, AttributeError) as e:
        sys.exit(f'{args.pkl}: cannot load the pickle ({e}); a pickle that refers to dnnlib or '
                 'torch_utils needs the reference on PYTHONPATH')
    if not isinstance(detector, torch.jit.ScriptModule):
        if not isinstance(detector, torch.nn.Module):
            sys.exit(f'{args.pkl}: holds a {type(detector).__name__}, not a network')
        detector = torch.jit.script(detector.eval())
    detector.save(args.out)
    loaded = torch.jit.load(args.out).eval()
    with torch.no_grad():
        features = loaded(torch.full([2, 3, 64, 64], 128, dtype=torch.uint8), return_features=True)
    if features.ndim != 2 or features.shape[0] != 2:
        sys.exit(f'{args.out}: forward(images, return_features=True) gave {list(features.shape)}, '
                 'expected [2, D]')
    print(f'{args.out}: {features.shape[1]} features per image')


if __name__ == '__main__':
    main()
