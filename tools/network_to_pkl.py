#!/usr/bin/env python3
"""Convert a pgan network file (safetensors) into a Projected GAN network pickle.

This is the inverse of ``tools/convert_pkl.py``: it rebuilds the reference implementation's
(autonomousvision/projected_gan) generator and discriminator from the ``pgan`` metadata, loads the
weights from the file and pickles them the way the reference's training loop lays out its
snapshots, ``dict(G=..., D=..., G_ema=..., training_set_kwargs=None)``, so that the reference's
``gen_images.py``, ``calc_metrics.py`` and ``legacy.load_network_pkl`` can read the result.
Since the pickle stores live reference objects, the reference source tree (``pg_modules``,
``dnnlib``, ``torch_utils``) and the timm it was written for (0.4.12) must be importable, both here
and wherever the pickle is loaded.

Usage::

    PYTHONPATH=/path/to/projected_gan python3 tools/network_to_pkl.py \\
        --network network-snapshot-000100.safetensors --out network-snapshot-000100.pkl

    # or let the script put the checkout on sys.path itself:
    python3 tools/network_to_pkl.py --ref-root /path/to/projected_gan --network net.safetensors --out net.pkl

Input: a pgan network file (``network-snapshot-*.safetensors``, or one written by
``tools/convert_pkl.py``) or a pgan training snapshot (``snapshot-*.safetensors``; its optimizer
state ``opt_G.*`` / ``opt_D.*`` is ignored). The networks are built from ``__metadata__["pgan"]``:

* G = ``pg_modules.networks_fastgan.Generator(z_dim, c_dim, img_resolution, img_channels, ngf,
  cond=c_dim > 0, synthesis_kwargs={'lite': cfg == 'fastgan_lite'})``, or for ``stylegan2``
  ``pg_modules.networks_stylegan2.Generator(z_dim, c_dim, w_dim, img_resolution, img_channels,
  mapping_kwargs={'num_layers': map_depth}, channel_base=cbase, channel_max=cmax,
  fused_modconv_default='inference_only')`` plus ``num_fp16_res=0, conv_clamp=None`` when fp32, as
  the reference's train.py builds them; G_ema is a copy of G;
* D = ``pg_modules.discriminator.ProjectedDiscriminator(diffaug=True, interp224=resolution < 224,
  backbone_kwargs=dict(cout, expand, proj_type, num_discs, separable=cfg == 'stylegan2',
  cond=c_dim > 0))``,
  with ``timm.create_model`` temporarily patched to build ``feature_network``
  (tf_efficientnet_lite0 / lite1) with ``pretrained=False`` -- the trunk weights (including the
  BatchNorm statistics the reference's constructor modifies) come from the file.

Every tensor is loaded with ``load_state_dict(strict=True)``; all three networks are put in eval
mode with ``requires_grad`` off. ``training_set_kwargs`` is None, so ``calc_metrics.py`` needs
``--data``. The pickle is first written next to the destination under a temporary name and then
renamed, so an interrupted run never leaves a truncated pickle behind.

The safetensors container is parsed by hand (no ``safetensors`` package needed): an 8-byte
little-endian header length, a JSON header giving dtype, shape and byte range of every tensor
(plus ``__metadata__``), then the raw little-endian data.
"""

import argparse
import copy
import json
import os
import pickle
import struct
import sys
import tempfile


def _die(msg):
    sys.stderr.write(f'network_to_pkl: error: {msg}\n')
    sys.exit(1)


def _warn(msg):
    sys.stderr.write(f'network_to_pkl: warning: {msg}\n')


_REF_HINT = ('point PYTHONPATH (or --ref-root) at a projected_gan checkout and install the timm it '
             'was written for (the reference pins timm==0.4.12; newer timm versions break its '
             'projector)')


# ------------------------------------------------------------------------------------------------
# safetensors reader

# safetensors dtype code -> (numpy dtype string, little-endian), bf16 handled separately.
_NP_DTYPES = {'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'I64': '<i8', 'I32': '<i4', 'I16': '<i2',
              'I8': 'i1', 'U8': 'u1', 'BOOL': '?', 'BF16': '<u2'}


class SafetensorsFile:
    """Header of a safetensors file; tensors are read lazily with ``tensor(name, torch)``."""

    def __init__(self, path):
        self.path = path
        try:
            size = os.path.getsize(path)
            f = open(path, 'rb')
        except FileNotFoundError:
            _die(f'no such file: {path}')
        except IsADirectoryError:
            _die(f'{path} is a directory, not a network file')
        except OSError as e:
            _die(f'cannot open {path}: {e}')
        with f:
            head = f.read(8)
            if len(head) < 8:
                _die(f'{path} is not a safetensors file (only {size} bytes)')
            (n,) = struct.unpack('<Q', head)
            if n < 2 or 8 + n > size or n > 256 * 2**20:
                _die(f'{path} is not a safetensors file (implausible header length {n} for a '
                     f'{size}-byte file)')
            try:
                header = json.loads(f.read(n).decode('utf-8'))
            except (UnicodeDecodeError, ValueError) as e:
                _die(f'{path} is not a safetensors file (header is not JSON: {e})')
        if not isinstance(header, dict):
            _die(f'{path} is not a safetensors file (header is not a JSON object)')
        meta = header.pop('__metadata__', None)
        self.metadata = meta if isinstance(meta, dict) else {}
        self.data_start = 8 + n
        data_len = size - self.data_start
        self.entries = {}
        for name, e in header.items():
            try:
                dtype, shape, (begin, end) = e['dtype'], [int(d) for d in e['shape']], e['data_offsets']
            except (TypeError, KeyError, ValueError) as ex:
                _die(f'{path}: malformed header entry for tensor {name!r} ({ex!r})')
            if dtype not in _NP_DTYPES:
                _die(f'{path}: tensor {name} has unsupported dtype {dtype}')
            count = 1
            for d in shape:
                count *= d
            itemsize = 1 if dtype in ('I8', 'U8', 'BOOL') else int(_NP_DTYPES[dtype][-1])
            if not (0 <= begin <= end <= data_len) or end - begin != count * itemsize:
                _die(f'{path}: tensor {name} ({dtype} {shape}) has invalid data range '
                     f'[{begin}, {end}) (data section is {data_len} bytes); the file is truncated or corrupt')
            self.entries[name] = (dtype, shape, begin, end)

    def tensor(self, name, torch, f):
        import numpy as np
        dtype, shape, begin, end = self.entries[name]
        f.seek(self.data_start + begin)
        raw = f.read(end - begin)
        a = np.frombuffer(raw, dtype=np.dtype(_NP_DTYPES[dtype])).reshape(shape)
        a = a.astype(a.dtype.newbyteorder('='), copy=True)  # native order, writable copy
        t = torch.from_numpy(a)
        if dtype == 'BF16':
            t = t.view(torch.int16).view(torch.bfloat16)
        return t


# ------------------------------------------------------------------------------------------------
# Metadata

_META_KEYS = ('cfg', 'resolution', 'z_dim', 'ngf', 'img_channels', 'c_dim', 'feature_network',
              'cout', 'expand', 'proj_type', 'num_discs')
_TRUNKS = ('tf_efficientnet_lite0', 'tf_efficientnet_lite1')
_RESOLUTIONS = (128, 256, 512, 1024)  # what FastganSynthesis can build
# StyleGAN2's fields, absent from files written before pgan had it.
_STYLEGAN2_KEYS = ('w_dim', 'cbase', 'cmax', 'map_depth', 'fp32')


def _config(st):
    path = st.path
    raw = st.metadata.get('pgan')
    if raw is None:
        _die(f'{path} is not a pgan network file: its safetensors metadata has no "pgan" entry '
             f'(metadata keys: {", ".join(sorted(st.metadata)) or "none"})')
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        _die(f'{path}: metadata "pgan" is not valid JSON: {e}')
    if not isinstance(cfg, dict):
        _die(f'{path}: metadata "pgan" is not a JSON object')
    missing = [k for k in _META_KEYS if k not in cfg]
    if missing:
        _die(f'{path}: metadata "pgan" lacks {", ".join(missing)} (it has: {", ".join(sorted(cfg))})')

    def integer(k, lo=None):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
            _die(f'{path}: metadata "pgan": {k} = {v!r} is not an integer'
                 + (f' >= {lo}' if lo is not None else ''))
        return v

    out = dict(cfg=cfg['cfg'], resolution=integer('resolution'), z_dim=integer('z_dim', 1),
               ngf=integer('ngf', 1), img_channels=integer('img_channels', 1), c_dim=integer('c_dim', 0),
               feature_network=cfg['feature_network'], cout=integer('cout', 1), expand=cfg['expand'],
               proj_type=integer('proj_type'), num_discs=integer('num_discs'))
    if out['cfg'] not in ('fastgan', 'fastgan_lite', 'stylegan2'):
        _die(f'{path}: unsupported cfg {out["cfg"]!r}; expected fastgan, fastgan_lite or stylegan2')
    if out['cfg'] == 'stylegan2':
        missing = [k for k in _STYLEGAN2_KEYS if k not in cfg]
        if missing:
            _die(f'{path}: a stylegan2 network without {", ".join(missing)} in metadata "pgan"')
        out.update(w_dim=integer('w_dim', 1), cbase=integer('cbase', 1), cmax=integer('cmax', 1),
                   map_depth=integer('map_depth', 1), fp32=cfg['fp32'])
        if not isinstance(out['fp32'], bool):
            _die(f'{path}: metadata "pgan": fp32 = {out["fp32"]!r} is not a boolean')
    elif out['resolution'] not in _RESOLUTIONS:
        _die(f'{path}: resolution {out["resolution"]} cannot be built by the reference generator '
             f'(FastGAN supports {", ".join(map(str, _RESOLUTIONS))})')
    if out['c_dim'] > 0 and out['resolution'] > 256:
        _die(f'{path}: conditional network (c_dim {out["c_dim"]}) at {out["resolution"]} px: the '
             'reference cannot build it (FastganSynthesisCond creates its 512/1024 px up-blocks '
             'without the conditioning argument and fails above 256 px)')
    if out['c_dim'] > 1000:
        _die(f'{path}: c_dim {out["c_dim"]} > 1000; the reference\'s conditional embeddings have '
             'a fixed 1000 classes')
    if out['feature_network'] not in _TRUNKS:
        _die(f'{path}: unsupported feature_network {out["feature_network"]!r} (supported: '
             f'{", ".join(_TRUNKS)})')
    if not isinstance(out['expand'], bool):
        _die(f'{path}: metadata "pgan": expand = {out["expand"]!r} is not a boolean')
    if out['proj_type'] not in (0, 1, 2):
        _die(f'{path}: proj_type {out["proj_type"]} is not 0, 1 or 2')
    if out['num_discs'] not in (1, 2, 3, 4):
        _die(f'{path}: num_discs {out["num_discs"]} is not 1..4')
    if out['img_channels'] != 3:
        _warn(f'img_channels is {out["img_channels"]}; the reference discriminator\'s feature '
              'network only takes RGB images')
    return out


# ------------------------------------------------------------------------------------------------
# Reference networks


def _import_reference(ref_root):
    """Import torch, timm and the reference modules; return (torch, timm, Generator, ProjectedDiscriminator)."""
    if ref_root:
        if not os.path.isdir(os.path.join(ref_root, 'pg_modules')):
            _die(f'--ref-root {ref_root}: no pg_modules/ there; it must be a projected_gan checkout')
        sys.path.insert(0, os.path.abspath(ref_root))
    try:
        import torch
    except ImportError as e:
        _die(f'PyTorch is not installed in this Python environment ({e})')
    try:
        import numpy  # noqa: F401
    except ImportError as e:
        _die(f'numpy is not installed in this Python environment ({e})')
    missing = []
    for name in ('timm', 'dnnlib', 'torch_utils', 'pg_modules.networks_fastgan',
                 'pg_modules.discriminator', 'pg_modules.projector'):
        try:
            __import__(name)
        except Exception as e:  # ImportError, but also errors raised while importing
            missing.append(f'{name} ({type(e).__name__}: {e})')
    if missing:
        _die('cannot import ' + ', '.join(missing) + '.\n  ' + _REF_HINT + '.')
    import timm
    from pg_modules.networks_fastgan import Generator as FastganGenerator
    from pg_modules.networks_stylegan2 import Generator as Stylegan2Generator
    from pg_modules.discriminator import ProjectedDiscriminator

    def Generator(cfg):
        if cfg['cfg'] == 'stylegan2':
            extra = dict(num_fp16_res=0, conv_clamp=None) if cfg['fp32'] else {}
            return Stylegan2Generator(
                z_dim=cfg['z_dim'], c_dim=cfg['c_dim'], w_dim=cfg['w_dim'],
                img_resolution=cfg['resolution'], img_channels=cfg['img_channels'],
                mapping_kwargs={'num_layers': cfg['map_depth']}, channel_base=cfg['cbase'],
                channel_max=cfg['cmax'], fused_modconv_default='inference_only', **extra)
        return FastganGenerator(z_dim=cfg['z_dim'], c_dim=cfg['c_dim'],
                                img_resolution=cfg['resolution'], img_channels=cfg['img_channels'],
                                ngf=cfg['ngf'], cond=int(cfg['c_dim'] > 0),
                                synthesis_kwargs={'lite': cfg['cfg'] == 'fastgan_lite'})
    version = getattr(timm, '__version__', '?')
    if version != '0.4.12':
        _warn(f'timm {version} is installed; the reference was written for timm 0.4.12')
    return torch, timm, Generator, ProjectedDiscriminator


def _build_networks(cfg, torch, timm, Generator, ProjectedDiscriminator):
    torch.manual_seed(0)  # every weight is overwritten, but keep the construction deterministic
    try:
        G = Generator(cfg)
    except Exception as e:
        _die(f'the reference could not build the generator for {json.dumps(cfg)}: {type(e).__name__}: {e}')

    # pg_modules.projector calls timm.create_model('tf_efficientnet_lite0', pretrained=True) at
    # construction time; build the requested trunk without downloading anything instead.
    orig_create_model = timm.create_model

    def create_model(name, pretrained=False, **kwargs):
        if name == 'tf_efficientnet_lite0':
            name = cfg['feature_network']
        return orig_create_model(name, pretrained=False, **kwargs)

    timm.create_model = create_model
    try:
        D = ProjectedDiscriminator(
            diffaug=True, interp224=cfg['resolution'] < 224,
            backbone_kwargs=dict(cout=cfg['cout'], expand=cfg['expand'], proj_type=cfg['proj_type'],
                                 num_discs=cfg['num_discs'], separable=cfg['cfg'] == 'stylegan2',
                                 cond=int(cfg['c_dim'] > 0)),
            c_dim=cfg['c_dim'], img_resolution=cfg['resolution'], img_channels=cfg['img_channels'])
    except Exception as e:
        _die(f'the reference could not build the discriminator for {json.dumps(cfg)}: '
             f'{type(e).__name__}: {e}\n  (an AttributeError here usually means a timm other than '
             '0.4.12 is installed; ' + _REF_HINT + ')')
    finally:
        timm.create_model = orig_create_model
    G_ema = copy.deepcopy(G)
    return G, D, G_ema


def _load(module, prefix, st, f, torch):
    """load_state_dict(strict=True) from the ``prefix.*`` tensors, with a readable error first."""
    expected = module.state_dict()
    names = {n[len(prefix):]: n for n in st.entries if n.startswith(prefix)}
    missing = [k for k in expected if k not in names]
    unexpected = [k for k in names if k not in expected]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing (e.g. {", ".join(prefix + k for k in missing[:4])})')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected (e.g. {", ".join(prefix + k for k in unexpected[:4])})')
    shapes = [f'{prefix}{k}: file {st.entries[names[k]][1]} vs reference {list(v.shape)}'
              for k, v in expected.items() if k in names and st.entries[names[k]][1] != list(v.shape)]
    if shapes:
        problems.append(f'{len(shapes)} with another shape (e.g. {"; ".join(shapes[:3])})')
    if problems:
        _die(f'{st.path}: the {prefix[:-1]} tensors do not match the reference network built from '
             f'the metadata: ' + ', '.join(problems))
    sd = {k: st.tensor(names[k], torch, f) for k in expected}
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        _die(f'{st.path}: loading the {prefix[:-1]} tensors failed: {e}')


def _refresh_spectral_norm(module, torch):
    """Recompute the cached ``weight`` of spectrally normalized layers from the loaded
    weight_orig / u / v (what the eval-mode forward hook computes anyway), so that the pickled
    attribute is consistent with the loaded parameters instead of the random initialization."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    with torch.no_grad():
        for m in module.modules():
            for hook in m._forward_pre_hooks.values():
                if isinstance(hook, SpectralNorm):
                    setattr(m, hook.name, hook.compute_weight(m, do_power_iteration=False))


# ------------------------------------------------------------------------------------------------


def _write_pickle(path, data):
    out_dir = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.network_to_pkl-', suffix='.tmp', dir=out_dir)
    try:
        with os.fdopen(fd, 'wb') as f:
            pickle.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return os.path.getsize(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--network', required=True,
                    help='pgan network file or training snapshot (.safetensors)')
    ap.add_argument('--out', required=True, help='output Projected GAN network pickle (.pkl)')
    ap.add_argument('--ref-root', default=None, help='projected_gan checkout to put on sys.path (else use PYTHONPATH)')
    args = ap.parse_args(argv)

    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        _die(f'output directory {out_dir} does not exist')
    if os.path.isdir(args.out):
        _die(f'--out {args.out} is a directory; give the pickle\'s file name')
    st = SafetensorsFile(args.network)  # check the input before the (slow) reference imports
    cfg = _config(st)
    prefixes = ('G.', 'G_ema.', 'D.')
    ignored = [n for n in st.entries if not n.startswith(prefixes) and not n.startswith(('opt_G.', 'opt_D.'))]
    if ignored:
        _warn(f'ignoring {len(ignored)} tensors outside G/G_ema/D (e.g. {", ".join(ignored[:3])})')
    for p in prefixes:
        if not any(n.startswith(p) for n in st.entries):
            _die(f'{args.network}: no {p[:-1]} tensors ({p}*) in the file; a pgan network file '
                 'holds G.*, G_ema.* and D.*')

    torch, timm, Generator, ProjectedDiscriminator = _import_reference(args.ref_root)
    G, D, G_ema = _build_networks(cfg, torch, timm, Generator, ProjectedDiscriminator)
    with open(args.network, 'rb') as f:
        for prefix, net in (('G.', G), ('G_ema.', G_ema), ('D.', D)):
            _load(net, prefix, st, f, torch)
    for net in (G, D, G_ema):
        net.eval().requires_grad_(False)
        # ProjectedDiscriminator.train() only switches its children and leaves its own flag set.
        for m in net.modules():
            m.training = False
        _refresh_spectral_norm(net, torch)

    data = dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=None)
    size = _write_pickle(args.out, data)
    print(f'wrote {args.out}: G, G_ema, D ({sum(len(n.state_dict()) for n in (G, G_ema, D))} tensors), '
          f'{size / 2**20:.1f} MiB, config {json.dumps(cfg)}')


if __name__ == '__main__':
    main()
