#!/usr/bin/env python3
"""Convert a Projected GAN network pickle into a pgan network file (safetensors).

The reference implementation (autonomousvision/projected_gan) saves its training snapshots as
Python pickles of the live ``torch.nn.Module`` objects (``dict(G=..., D=..., G_ema=..., ...)``).
Unpickling them therefore needs the reference source tree on the import path: its ``pg_modules``,
``dnnlib`` and ``torch_utils`` packages, plus the ``timm`` version it was trained with (0.4.12).

Usage::

    PYTHONPATH=/path/to/projected_gan python3 tools/convert_pkl.py \\
        --pkl network-snapshot.pkl --out net.safetensors

    # or let the script put the checkout on sys.path itself:
    python3 tools/convert_pkl.py --ref-root /path/to/projected_gan --pkl best_model.pkl --out net.safetensors

Output format (the same file pgan writes and reads):

* one tensor per state_dict entry of each network, named ``G.<key>``, ``G_ema.<key>`` and
  ``D.<key>`` (float32 tensors as ``F32``, BatchNorm ``num_batches_tracked`` counters as ``I64``);
* ``__metadata__["pgan"]``: a JSON string with the network configuration::

      {"cfg": "fastgan" | "fastgan_lite" | "stylegan2", "resolution": R, "z_dim": Z, "ngf": N,
       "img_channels": 3, "c_dim": C, "feature_network": "tf_efficientnet_lite0" | "..._lite1",
       "cout": 64, "expand": true, "proj_type": 2, "num_discs": 4,
       "w_dim": W, "cbase": B, "cmax": M, "map_depth": L, "fp32": false}

Every generator of the reference's train.py is supported: FastGAN (``--cfg fastgan`` /
``fastgan_lite``, conditional or not) and StyleGAN2 (``--cfg stylegan2``: its channel_base,
channel_max, mapping layers and --fp32 are read from the generator's init_kwargs, which the
reference's persistence module records, and checked against the weights' shapes).

The safetensors container is written by a small built-in writer (no ``safetensors`` package
needed): an 8-byte little-endian header length, a JSON header (padded with spaces to a multiple of
8 bytes) giving dtype, shape and byte range of every tensor, then the raw little-endian data.
The file is first written next to the destination under a temporary name and then renamed, so an
interrupted run never leaves a truncated network file behind.
"""

import argparse
import io
import json
import os
import pickle
import re
import struct
import sys
import tempfile


def _die(msg):
    sys.stderr.write(f'convert_pkl: error: {msg}\n')
    sys.exit(1)


# ------------------------------------------------------------------------------------------------
# Loading


def _import_reference(ref_root):
    """Make the reference packages importable (needed by the unpickler) and return torch."""
    if ref_root:
        sys.path.insert(0, os.path.abspath(ref_root))
    try:
        import torch  # noqa: F401
    except ImportError:
        _die('PyTorch is not installed in this Python environment.')
    missing = []
    for name in ('pg_modules', 'dnnlib', 'torch_utils', 'timm'):
        try:
            __import__(name)
        except ImportError as e:
            missing.append(f'{name} ({e})')
    if missing:
        _die('cannot import ' + ', '.join(missing) + '.\n  The pickle stores live reference objects; '
             'point PYTHONPATH (or --ref-root) at a projected_gan checkout and install its timm '
             '(the reference pins timm==0.4.12).')
    import torch
    return torch


def _load_pickle(path, torch):
    """Unpickle a snapshot, moving every tensor to the CPU.

    Snapshots written on a GPU machine store their tensors as serialized CUDA storages
    (``torch.storage._load_from_bytes``); those are redirected to ``torch.load(map_location='cpu')``
    so that the conversion also works on machines without CUDA.
    """

    def _storage_from_bytes(b):
        return torch.load(io.BytesIO(b), map_location='cpu')

    class _CpuUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == 'torch.storage' and name == '_load_from_bytes':
                return _storage_from_bytes
            return super().find_class(module, name)

    try:
        with open(path, 'rb') as f:
            return _CpuUnpickler(f).load()
    except FileNotFoundError:
        _die(f'no such file: {path}')
    except (ModuleNotFoundError, AttributeError) as e:
        _die(f'cannot unpickle {path}: {e}\n  (the pickle refers to code that is not importable here; '
             'check that PYTHONPATH points at the projected_gan checkout the snapshot was made with, '
             'and that timm 0.4.12 and dill are installed)')
    except (pickle.UnpicklingError, EOFError) as e:
        _die(f'{path} is not a readable pickle: {e}')


def _networks(data, path, torch):
    if not isinstance(data, dict):
        _die(f'{path}: expected a dict with G, D and G_ema, found a {type(data).__name__}')
    missing = [k for k in ('G', 'D', 'G_ema') if k not in data]
    if missing:
        _die(f'{path}: the pickle has no {", ".join(missing)} entry (it has: '
             f'{", ".join(sorted(map(str, data.keys()))) or "nothing"}). A Projected GAN network '
             'snapshot (network-snapshot-*.pkl / best_model.pkl) is needed.')
    for k in ('G', 'D', 'G_ema'):
        if not isinstance(data[k], torch.nn.Module):
            _die(f'{path}: entry {k} is a {type(data[k]).__name__}, not a torch.nn.Module')
    return data['G'], data['D'], data['G_ema']


# ------------------------------------------------------------------------------------------------
# Configuration inference

# Number of blocks (timm blocks[0..6] together) and per-stage output channels of the supported
# EfficientNet-Lite trunks, as they appear under D.feature_network.pretrained.
_TRUNKS = {
    'tf_efficientnet_lite0': (16, [24, 40, 112, 320]),
    'tf_efficientnet_lite1': (21, [24, 40, 112, 320]),
}


# pgan's defaults for the fields the other generator does not have.
_FASTGAN_ONLY = dict(ngf=128)
_STYLEGAN2_ONLY = dict(w_dim=128, cbase=32768, cmax=512, map_depth=2, fp32=False)


def _stylegan2_config(G, name):
    kwargs = getattr(G, 'init_kwargs', None)
    if not isinstance(kwargs, dict):
        _die(f'{name}: a StyleGAN2 generator without init_kwargs (not saved by the reference\'s '
             'persistence module); cannot read channel_base / channel_max')
    cbase = int(kwargs.get('channel_base', 32768))
    cmax = int(kwargs.get('channel_max', 512))
    fp16_res = int(kwargs.get('num_fp16_res', 4))
    clamp = kwargs.get('conv_clamp', 256)
    if (fp16_res, clamp) == (0, None):
        fp32 = True
    elif (fp16_res, clamp) == (4, 256):
        fp32 = False
    else:
        _die(f'{name}: num_fp16_res={fp16_res}, conv_clamp={clamp}; pgan supports the reference\'s '
             'two settings (4 and 256, or 0 and None with --fp32)')
    sd = G.state_dict()
    depth = len([k for k in sd if re.match(r'^mapping\.fc\d+\.weight$', k)])
    res = int(G.img_resolution)
    cfgd = dict(cfg='stylegan2', resolution=res, z_dim=int(G.z_dim),
                img_channels=int(G.img_channels), c_dim=int(G.c_dim), w_dim=int(G.w_dim),
                cbase=cbase, cmax=cmax, map_depth=depth, fp32=fp32, **_FASTGAN_ONLY)
    r = 4
    while r <= res:
        w = sd.get(f'synthesis.b{r}.conv1.weight')
        if w is None or w.shape[0] != min(cbase // r, cmax):
            _die(f'{name}: synthesis.b{r}.conv1.weight {None if w is None else tuple(w.shape)} '
                 f'does not match channel_base {cbase} / channel_max {cmax}')
        r *= 2
    if sd['mapping.fc0.weight'].shape[1] != cfgd['z_dim'] + (cfgd['w_dim'] if cfgd['c_dim'] else 0):
        _die(f'{name}: mapping.fc0.weight {tuple(sd["mapping.fc0.weight"].shape)} does not match '
             f'z_dim {cfgd["z_dim"]}')
    return cfgd


def _generator_config(G, name):
    syn = getattr(G, 'synthesis', None)
    kind = type(syn).__name__ if syn is not None else None
    if kind == 'SynthesisNetwork':
        return _stylegan2_config(G, name)
    if kind not in ('FastganSynthesis', 'FastganSynthesisCond'):
        _die(f'{name}.synthesis is {kind!r}; expected the FastGAN or StyleGAN2 synthesis network '
             'of the reference\'s train.py')
    sd = G.state_dict()
    w = sd.get('synthesis.init.init.0.weight_orig')
    if w is None or w.dim() != 4:
        _die(f'{name}: synthesis.init.init.0.weight_orig not found; unexpected generator layout')
    # InitLayer: ConvTranspose2d(z_dim -> 2*nfc[2]) with nfc[2] = 16*ngf  => weight [z, 32*ngf, 4, 4]
    if w.shape[1] % 32:
        _die(f'{name}: cannot infer ngf from init weight shape {tuple(w.shape)}')
    ngf = w.shape[1] // 32
    big = any(k.startswith('synthesis.feat_8.5.') or k.startswith('synthesis.feat_8.conv2.') for k in sd)
    cfg = 'fastgan' if big else 'fastgan_lite'
    res = int(G.img_resolution)
    cond = kind == 'FastganSynthesisCond'
    cfgd = dict(cfg=cfg, resolution=res, z_dim=int(G.z_dim), ngf=int(ngf),
                img_channels=int(G.img_channels), c_dim=int(G.c_dim), **_STYLEGAN2_ONLY)
    # consistency checks against other weight shapes
    mult = {128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
    tb = sd.get('synthesis.to_big.weight_orig')
    if res not in mult:
        _die(f'{name}: unsupported img_resolution {res} (FastGAN supports 128, 256, 512, 1024)')
    if tb is None or tb.shape[1] != int(mult[res] * ngf) or tb.shape[0] != cfgd['img_channels']:
        _die(f'{name}: to_big weight {None if tb is None else tuple(tb.shape)} does not match '
             f'resolution {res} / ngf {ngf} / img_channels {cfgd["img_channels"]}')
    if w.shape[0] != cfgd['z_dim']:
        _die(f'{name}: init weight {tuple(w.shape)} does not match z_dim {cfgd["z_dim"]}')
    if cond != (cfgd['c_dim'] > 0):
        _die(f'{name}: conditional synthesis={cond} but c_dim={cfgd["c_dim"]}')
    return cfgd


def _discriminator_config(D):
    if type(D).__name__ != 'ProjectedDiscriminator':
        _die(f'D is a {type(D).__name__}, expected pg_modules.discriminator.ProjectedDiscriminator')
    fn, disc = D.feature_network, D.discriminator
    sd = D.state_dict()
    # trunk: count blocks (every DS / IR block owns exactly one depthwise conv) and stage widths
    pat = re.compile(r'^feature_network\.pretrained\.layer(\d)\.(\d+)\.(\d+)\.conv_dw\.weight$')
    blocks = sorted({m.groups() for m in map(pat.match, sd) if m})
    widths = []
    for i in range(4):
        layer = getattr(fn.pretrained, f'layer{i}')
        last_bn = [v for k, v in layer.state_dict().items() if k.endswith('running_mean')][-1]
        widths.append(int(last_bn.shape[0]))
    trunk = [n for n, (nb, ch) in _TRUNKS.items() if nb == len(blocks) and ch == widths]
    if not trunk:
        _die(f'unsupported feature network: {len(blocks)} blocks, stage widths {widths} '
             '(supported: tf_efficientnet_lite0, tf_efficientnet_lite1)')
    separable = any('depthwise' in k for k in sd if k.startswith('discriminator.'))
    cfgd = dict(feature_network=trunk[0], cout=int(fn.cout), expand=bool(fn.expand),
                proj_type=int(fn.proj_type), num_discs=len(disc.mini_discs))
    cond = any(type(m).__name__ == 'SingleDiscCond' for m in disc.mini_discs.values())
    return cfgd, cond, bool(D.interp224), separable


# ------------------------------------------------------------------------------------------------
# safetensors writer

_DTYPES = {'torch.float32': 'F32', 'torch.int64': 'I64'}


def _tensor_bytes(name, t, torch):
    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype != torch.float32:
        t = t.float()  # the reference keeps fp32 weights (fp16 is compute only)
    code = _DTYPES.get(str(t.dtype))
    if code is None:
        _die(f'tensor {name} has unsupported dtype {t.dtype}')
    a = t.contiguous().numpy()
    a = a.astype(a.dtype.newbyteorder('<'), copy=False)  # no-op on little-endian hosts
    return code, list(a.shape), a.tobytes()


def write_safetensors(path, named_tensors, metadata, torch):
    """Write (name, tensor) pairs plus string metadata; atomic via a temp file + rename."""
    header, chunks, offset = {}, [], 0
    for name, t in named_tensors:
        if name in header:
            _die(f'duplicate tensor name {name}')
        code, shape, raw = _tensor_bytes(name, t, torch)
        header[name] = {'dtype': code, 'shape': shape, 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hjson += b' ' * (-len(hjson) % 8)
    out_dir = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.convert_pkl-', suffix='.tmp', dir=out_dir)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(struct.pack('<Q', len(hjson)))
            f.write(hjson)
            for raw in chunks:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(header) - 1, 8 + len(hjson) + offset


# ------------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--pkl', required=True, help='Projected GAN snapshot (network-snapshot-*.pkl, best_model.pkl)')
    ap.add_argument('--out', required=True, help='output pgan network file (.safetensors)')
    ap.add_argument('--ref-root', default=None, help='projected_gan checkout to put on sys.path (else use PYTHONPATH)')
    args = ap.parse_args(argv)

    torch = _import_reference(args.ref_root)
    data = _load_pickle(args.pkl, torch)
    G, D, G_ema = _networks(data, args.pkl, torch)

    gcfg = _generator_config(G, 'G')
    if _generator_config(G_ema, 'G_ema') != gcfg:
        _die('G and G_ema have different configurations')
    dcfg, dcond, interp224, separable = _discriminator_config(D)
    if separable != (gcfg['cfg'] == 'stylegan2'):
        _die(f'D {"has" if separable else "has no"} separable down-blocks but G is {gcfg["cfg"]}; '
             'the reference uses them with the stylegan2 generator only')
    if dcond != (gcfg['c_dim'] > 0):
        _die(f'D conditional={dcond} but G c_dim={gcfg["c_dim"]}')
    if interp224 != (gcfg['resolution'] < 224):
        sys.stderr.write(f'convert_pkl: warning: D.interp224={interp224} for resolution '
                         f'{gcfg["resolution"]}; pgan derives it as resolution < 224\n')
    if (dcfg['cout'], dcfg['expand'], dcfg['proj_type'], dcfg['num_discs']) != (64, True, 2, 4):
        sys.stderr.write(f'convert_pkl: warning: non-default projector/discriminator settings {dcfg}\n')

    meta = dict(gcfg, **dcfg)
    tensors = []
    for prefix, net in (('G', G), ('G_ema', G_ema), ('D', D)):
        tensors += [(f'{prefix}.{k}', v) for k, v in net.state_dict().items()]
    extra = {'source': f'tools/convert_pkl.py from {os.path.basename(args.pkl)}'}
    progress = data.get('progress')
    if isinstance(progress, dict) and 'cur_nimg' in progress:
        try:
            extra['cur_nimg'] = str(int(progress['cur_nimg']))
        except (TypeError, ValueError):
            pass
    n, size = write_safetensors(args.out, tensors, {'pgan': json.dumps(meta), **extra}, torch)
    print(f'wrote {args.out}: {n} tensors, {size / 2**20:.1f} MiB, config {json.dumps(meta)}')


if __name__ == '__main__':
    main()
