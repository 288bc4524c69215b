#!/usr/bin/env python3
"""Writes tests/trainer/testdata/reference_golden.json: outputs of the REFERENCE Projected GAN
modules for deterministic weights and inputs, which tests/trainer/reference_golden_test.cc
recomputes with pgan's LibTorch modules.

Needs the reference code on PYTHONPATH: a checkout of autonomousvision/projected_gan at e1c246b
(for ``pg_modules``) and timm 0.4.12 (for the EfficientNet trunk), plus torch and numpy. No
pretrained weights are needed (every state-dict entry is overwritten, see below).
The committed file was made on Debian 12 with its python3-torch 1.13.1 (torch.__version__
"1.13.0a0") and python3-numpy, with the checkouts unmodified:

    PYTHONPATH=/path/to/projected_gan:/path/to/timm-0.4.12 /usr/bin/python3 \\
        tools/make_reference_golden.py --out tests/trainer/testdata/reference_golden.json

The script only imports the reference modules and calls them (``timm.create_model`` is wrapped to
force ``pretrained=False`` and, for one case, to build ``tf_efficientnet_lite1``). It runs on the
CPU with one thread and takes well under a minute. Same inputs -> same file.

Deterministic values (the C++ test implements the same formulas)
-----------------------------------------------------------------
For a tensor named K (its state-dict key, for example ``synthesis.feat_8.1.weight_orig``, or an
input name such as ``golden.z``) with n elements, element i (row-major) is derived from

    h   = FNV-1a-32(UTF-8 bytes of K)          (offset 2166136261, prime 16777619)
    x_i = fmix32((h + i * 2654435761) mod 2^32) (MurmurHash3's 32-bit finaliser)
    u_i = (x_i >> 8) / 2^24                     (exact, in [0, 1))

Every value is (u_i + shift) * scale + offset computed in float64 (in that order, with scale
computed first), then rounded to float32. The finaliser is there because without it x_i is a
Weyl sequence: every weight matrix would be a sampled sawtooth of (row phase + column phase),
numerically of rank ~3 (singular values falling as 1/k), which makes every spectral-norm layer a
near-projection and the networks' outputs nearly independent of their inputs.

Each state-dict entry has a kind, decided here from the reference module that owns it and
recorded in the JSON next to the key (the C++ test checks that its modules have exactly these
keys and shapes and fills them by the recorded kind):

    kind       entries                                        shift  scale               offset
    weight     conv / linear weight, spectral norm's           -0.5  2 / sqrt(fan_in)    0
               weight_orig; fan_in = numel / shape[0]
    weight_t   ConvTranspose2d weight_orig [in, out, k, k]    -0.5  2 / sqrt(fan_in)    0
               (fan_in = numel / shape[0] = out * k * k)
    bias       conv / linear bias                              -0.5  0.2                 0
    bn_weight  BatchNorm weight                                -0.5  0.4                 1
    bn_bias    BatchNorm bias                                  -0.5  0.4                 0
    mean       BatchNorm running_mean, CCBN stored_mean        -0.5  0.4 * sqrt(S)       0
    var        BatchNorm running_var, CCBN stored_var          +0.5  S                   0
    embedding  nn.Embedding weight                             -0.5  2                   0
    zero       NoiseInjection weight, num_batches_tracked      (all 0)
    sn_u/sn_v  spectral norm's weight_u / weight_v (sn_u_t / sn_v_t for the transposed conv):
               30 power iterations in float64 on the float32 weight_orig viewed as a matrix
               (dim 0; dim 1 for ConvTranspose2d), u = normalize(ones), then per iteration
               v = normalize(W^T u), u = normalize(W v); normalize(x) = x / max(|x|, 1e-12);
               u and v rounded to float32 at the end.

The statistics scale S is per network (``bn_var_scale`` in the JSON): 0.1 for generators, 0.2
for discriminators. With S = 1 the eval-mode networks lose their input: spectral-norm convs, GLU
and ReLU6 shrink the input-dependent part of the signal by ~3x per normalisation layer (G's
images then differed by ~6e-5 between latents, D's logits by ~3e-5 between images); with these
scales G's images differ by 0.2 to 8 between the two latents (std over the batch; image rms 0.4
to 13) and D's logits by 0.16 to 0.5 (logit rms 0.25 to 1.5).

Inputs: ``golden.z`` [2, 256] = (u - 0.5) * 4; ``golden.images.R`` [2, 3, R, R] = u * 2 - 1
(R = 32, 128, 256).

Output tensors are stored whole when they have at most 600 elements, otherwise as the flat
elements 0, s, 2s, ... with the odd stride s = (n // 500) | 1, plus sum, sum of |x| and sum of x^2
over all elements (float64).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import timm
    from pg_modules.blocks import CCBN, NoiseInjection
    from pg_modules.diffaug import DiffAugment
except ImportError as e:  # pragma: no cover
    sys.exit(f'make_reference_golden: {e}; put projected_gan (e1c246b) and timm 0.4.12 on PYTHONPATH')

_TRUNK = {'name': 'tf_efficientnet_lite0'}
_create_model = timm.create_model


def _create_model_offline(name, pretrained=False, **kwargs):
    # The reference asks for the pretrained lite0; weights are overwritten anyway.
    del pretrained
    if name == 'tf_efficientnet_lite0':
        name = _TRUNK['name']
    return _create_model(name, pretrained=False, **kwargs)


timm.create_model = _create_model_offline
# pg_modules.projector calls timm.create_model through the module object, so the wrapper applies.
from pg_modules.discriminator import ProjectedDiscriminator  # noqa: E402
from pg_modules.networks_fastgan import Generator  # noqa: E402

Z_DIM = 256
G_BN_VAR_SCALE = 0.1
D_BN_VAR_SCALE = 0.2
SN_ITERATIONS = 30

# --------------------------------------------------------------------------------------------
# Deterministic values


def fnv1a32(text):
    h = 2166136261
    for b in text.encode('utf-8'):
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def uniform(key, n):
    """u_i in [0, 1) for i < n, float64."""
    m32 = np.uint64(0xFFFFFFFF)
    x = (np.uint64(fnv1a32(key)) + np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) & m32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & m32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & m32
    x ^= x >> np.uint64(16)
    return (x >> np.uint64(8)).astype(np.float64) / float(1 << 24)


def input_tensor(key, shape, kind):
    n = int(np.prod(shape))
    u = uniform(key, n)
    v = (u - 0.5) * 4 if kind == 'latent' else u * 2 - 1
    return torch.from_numpy(v.reshape(shape)).float()


def state_kinds(module):
    """state-dict key -> kind, from the type of the module that owns the entry."""
    kinds = {}
    for mname, m in module.named_modules():
        prefix = mname + '.' if mname else ''
        own = list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))
        for name, _ in own:
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                kind = {'weight': 'bn_weight', 'bias': 'bn_bias', 'running_mean': 'mean',
                        'running_var': 'var', 'num_batches_tracked': 'zero'}[name]
            elif isinstance(m, CCBN):
                kind = {'stored_mean': 'mean', 'stored_var': 'var'}[name]
            elif isinstance(m, NoiseInjection):
                kind = {'weight': 'zero'}[name]
            elif isinstance(m, nn.Embedding):
                kind = {'weight': 'embedding'}[name]
            elif isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
                t = '_t' if isinstance(m, nn.ConvTranspose2d) else ''
                kind = {'weight': 'weight', 'weight_orig': 'weight' + t, 'bias': 'bias',
                        'weight_u': 'sn_u' + t, 'weight_v': 'sn_v' + t}[name]
            else:
                raise RuntimeError(f'no kind for {prefix}{name} ({type(m).__name__})')
            kinds[prefix + name] = kind
    return kinds


def power_iteration(weight_orig, transposed):
    w = weight_orig.double()
    if transposed:
        w = w.transpose(0, 1)
    w = w.reshape(w.shape[0], -1)
    u = F.normalize(torch.ones(w.shape[0], dtype=torch.float64), dim=0, eps=1e-12)
    v = None
    for _ in range(SN_ITERATIONS):
        v = F.normalize(torch.mv(w.t(), u), dim=0, eps=1e-12)
        u = F.normalize(torch.mv(w, v), dim=0, eps=1e-12)
    return u.float(), v.float()


def affine(kind, fan_in, bn_var_scale):
    """(shift, scale, offset): value = (u + shift) * scale + offset, all float64."""
    s = math.sqrt(bn_var_scale)
    return {'weight': (-0.5, 2 / math.sqrt(fan_in), 0.0),
            'weight_t': (-0.5, 2 / math.sqrt(fan_in), 0.0),
            'bias': (-0.5, 0.2, 0.0),
            'bn_weight': (-0.5, 0.4, 1.0),
            'bn_bias': (-0.5, 0.4, 0.0),
            'mean': (-0.5, 0.4 * s, 0.0),
            'var': (0.5, bn_var_scale, 0.0),
            'embedding': (-0.5, 2.0, 0.0)}[kind]


def fill(module, bn_var_scale):
    """Overwrites every state-dict entry; returns [[key, kind, shape], ...] in state-dict order."""
    state = module.state_dict()
    kinds = state_kinds(module)
    assert set(kinds) == set(state), set(kinds) ^ set(state)
    new = {}
    for key, t in state.items():
        kind = kinds[key]
        n = t.numel()
        if kind.startswith('sn_'):
            continue  # below, from the finished weight_orig
        if kind == 'zero':
            new[key] = torch.zeros_like(t)
            continue
        shift, scale, offset = affine(kind, n // t.shape[0] if t.dim() else 1, bn_var_scale)
        v = (uniform(key, n) + shift) * scale + offset
        new[key] = torch.from_numpy(v.reshape(tuple(t.shape))).to(t.dtype)
    for key, t in state.items():
        kind = kinds[key]
        if kind.startswith('sn_u'):
            base = key[:-len('weight_u')]
            u, v = power_iteration(new[base + 'weight_orig'], kind.endswith('_t'))
            new[key] = u
            new[base + 'weight_v'] = v
    module.load_state_dict(new, strict=True)
    return [[k, kinds[k], list(t.shape)] for k, t in state.items()]


# --------------------------------------------------------------------------------------------
# Output encoding


def _f(x):
    """The shortest decimal that reads back as the same float32 (also via float64)."""
    f = np.float32(x)
    d = float(str(f))
    assert np.float32(d) == f, (x, d)
    return d


def encode(t, full=False):
    a = t.detach().double().numpy().reshape(-1)
    n = a.size
    stride = 1 if (full or n <= 600) else ((n // 500) | 1)
    out = {'shape': list(t.shape), 'stride': stride,
           'values': [_f(x) for x in t.detach().float().numpy().reshape(-1)[::stride]]}
    if stride != 1:
        out.update(sum=float(a.sum()), sum_abs=float(np.abs(a).sum()), sum_sq=float((a * a).sum()))
    return out


def describe(name, t):
    t = t.detach().float()
    spread = t.std(0).mean().item() if t.dim() > 1 and t.shape[0] > 1 else float('nan')
    print(f'  {name:28s} {str(tuple(t.shape)):22s} rms {t.pow(2).mean().sqrt().item():.3e}'
          f'  std over batch {spread:.3e}')


# --------------------------------------------------------------------------------------------
# Networks


def config(cfg='fastgan', res=128, ngf=8, c_dim=0, feature_network='tf_efficientnet_lite0'):
    return {'cfg': cfg, 'resolution': res, 'z_dim': Z_DIM, 'ngf': ngf, 'img_channels': 3,
            'c_dim': c_dim, 'feature_network': feature_network, 'cout': 64, 'expand': True,
            'proj_type': 2, 'num_discs': 4}


def build_g(cfg):
    return Generator(z_dim=Z_DIM, c_dim=cfg['c_dim'], img_resolution=cfg['resolution'],
                     img_channels=3, ngf=cfg['ngf'], cond=int(cfg['c_dim'] > 0),
                     synthesis_kwargs={'lite': cfg['cfg'] == 'fastgan_lite'})


def build_d(cfg, separable=False):
    _TRUNK['name'] = cfg['feature_network']
    try:
        return ProjectedDiscriminator(
            diffaug=True, interp224=cfg['resolution'] < 224,
            backbone_kwargs=dict(cout=64, expand=True, proj_type=2, num_discs=4, separable=separable,
                                 cond=int(cfg['c_dim'] > 0)),
            c_dim=cfg['c_dim'], img_resolution=cfg['resolution'], img_channels=3)
    finally:
        _TRUNK['name'] = 'tf_efficientnet_lite0'


def onehot(labels, c_dim):
    c = torch.zeros(len(labels), c_dim)
    c[torch.arange(len(labels)), torch.tensor(labels)] = 1
    return c


def d_input(D, x):
    return F.interpolate(x, 224, mode='bilinear', align_corners=False) if D.interp224 else x


def write_golden(doc, path):
    """Compact JSON, but one line per entry of each top-level object so that diffs stay readable."""
    def dump(x):
        return json.dumps(x, separators=(',', ':'))

    lines = []
    for key, value in doc.items():
        if isinstance(value, dict):
            inner = ',\n'.join(f'  {dump(k)}:{dump(v)}' for k, v in value.items())
            lines.append(f' {dump(key)}:{{\n{inner}\n }}')
        else:
            lines.append(f' {dump(key)}:{dump(value)}')
    text = '{\n' + ',\n'.join(lines) + '\n}'
    assert json.loads(text) == doc
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text + '\n')
    print(f'wrote {path} ({len(text)} bytes)')


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)

    networks, cases = {}, {}

    def net(name, kind, cfg, module, scale):
        networks[name] = {'type': kind, 'config': cfg, 'bn_var_scale': scale,
                          'state': fill(module, scale)}
        return module

    z = input_tensor('golden.z', (2, Z_DIM), 'latent')
    img = {r: input_tensor(f'golden.images.{r}', (2, 3, r, r), 'image') for r in (32, 128, 256)}

    # a, i: fastgan 128 ngf 8, unconditional (eval, then training mode).
    cfg = config()
    G = net('G_fastgan_128', 'G', cfg, build_g(cfg).eval(), G_BN_VAR_SCALE)
    out = G(z, torch.zeros(2, 0))
    describe('a: G fastgan 128', out)
    cases['GeneratorEval128'] = {'network': 'G_fastgan_128', 'z': 'golden.z', 'image': encode(out)}
    G.train()
    torch.manual_seed(0)  # noise weights are 0: the draws do not matter
    out = G(z, torch.zeros(2, 0))
    describe('i: G fastgan 128 train', out)
    cases['GeneratorTrain128'] = {
        'network': 'G_fastgan_128', 'z': 'golden.z', 'image': encode(out),
        'synthesis.feat_8.3.running_mean': encode(G.synthesis.feat_8[3].running_mean, full=True),
        'synthesis.feat_8.1.weight_u': encode(G.synthesis.feat_8[1].weight_u, full=True)}

    # b: fastgan_lite 256 ngf 8 (se_256).
    cfg = config(cfg='fastgan_lite', res=256)
    G = net('G_fastgan_lite_256', 'G', cfg, build_g(cfg).eval(), G_BN_VAR_SCALE)
    out = G(z, torch.zeros(2, 0))
    describe('b: G fastgan_lite 256', out)
    cases['GeneratorLiteEval256'] = {'network': 'G_fastgan_lite_256', 'z': 'golden.z',
                                     'image': encode(out)}

    # c: conditional fastgan 128, c_dim 3, labels [0, 2].
    cfg = config(c_dim=3)
    G = net('G_fastgan_cond3_128', 'G', cfg, build_g(cfg).eval(), G_BN_VAR_SCALE)
    labels = [0, 2]
    out = G(z, onehot(labels, 3))
    describe('c: G cond 128', out)
    cases['GeneratorCondEval128'] = {'network': 'G_fastgan_cond3_128', 'z': 'golden.z',
                                     'labels': labels, 'image': encode(out)}

    # d: D lite0 at 128 (resized to 224), eval, no DiffAugment.
    cfg = config()
    D = net('D_lite0_128', 'D', cfg, build_d(cfg).eval(), D_BN_VAR_SCALE)
    x = d_input(D, img[128])
    trunk = D.feature_network.pretrained
    stages, h = [], x
    for layer in (trunk.layer0, trunk.layer1, trunk.layer2, trunk.layer3):
        h = layer(h)
        stages.append(h)
    feats = D.feature_network(x)
    logits = D.discriminator(feats, None)
    for k in range(4):
        describe(f'd: stage{k}', stages[k])
    for k in range(4):
        describe(f'd: csm{k}', feats[str(k)])
    describe('d: logits', logits)
    cases['DiscriminatorEval128'] = {
        'network': 'D_lite0_128', 'images': 'golden.images.128',
        'stages': [encode(s) for s in stages], 'csm': [encode(feats[str(k)]) for k in range(4)],
        'logits': encode(logits, full=True)}

    # h: one training-mode pass of the same D: hinge real loss, backward.
    D.train()  # the reference keeps feature_network in eval mode
    sn = D.discriminator.mini_discs['0'].main[0].main[0]
    bn = D.discriminator.mini_discs['0'].main[0].main[1]
    u_before = sn.weight_u.clone()
    with torch.enable_grad():
        logits = D.discriminator(D.feature_network(x), None)
        loss = F.relu(torch.ones_like(logits) - logits).mean()
        loss.backward()
    describe('h: train logits', logits)
    print(f'  h: loss {loss.item():.6f}, |weight_u change| {(sn.weight_u - u_before).norm():.3e}')
    describe('h: grad', sn.weight_orig.grad.unsqueeze(0))
    cases['DiscriminatorTrainStep128'] = {
        'network': 'D_lite0_128', 'images': 'golden.images.128',
        'loss': _f(loss.item()), 'logits': encode(logits, full=True),
        'grad_key': 'discriminator.mini_discs.0.main.0.main.0.weight_orig',
        'grad': encode(sn.weight_orig.grad),
        'discriminator.mini_discs.0.main.0.main.0.weight_u': encode(sn.weight_u, full=True),
        'discriminator.mini_discs.0.main.0.main.1.running_mean': encode(bn.running_mean, full=True)}

    # e: D lite1 at 256 (no resize), eval.
    cfg = config(res=256, feature_network='tf_efficientnet_lite1')
    D = net('D_lite1_256', 'D', cfg, build_d(cfg).eval(), D_BN_VAR_SCALE)
    logits = D.discriminator(D.feature_network(d_input(D, img[256])), None)
    describe('e: logits', logits)
    cases['DiscriminatorLite1Eval256'] = {'network': 'D_lite1_256', 'images': 'golden.images.256',
                                          'logits': encode(logits, full=True)}

    # f: conditional D at 128, labels [1, 0] of 3 classes.
    cfg = config(c_dim=3)
    D = net('D_lite0_cond3_128', 'D', cfg, build_d(cfg).eval(), D_BN_VAR_SCALE)
    labels = [1, 0]
    logits = D.discriminator(D.feature_network(d_input(D, img[128])), onehot(labels, 3))
    describe('f: logits', logits)
    cases['DiscriminatorCondEval128'] = {'network': 'D_lite0_cond3_128',
                                         'images': 'golden.images.128', 'labels': labels,
                                         'logits': encode(logits, full=True)}

    # g: DiffAugment with the global generator.
    x = img[32]
    torch.manual_seed(1234)
    y = DiffAugment(x, policy='color,translation,cutout')
    torch.manual_seed(1234)  # the draws, in the order the reference makes them
    b = x.size(0)
    draws = {'brightness': torch.rand(b, 1, 1, 1), 'saturation': torch.rand(b, 1, 1, 1),
             'contrast': torch.rand(b, 1, 1, 1),
             'translation_x': torch.randint(-4, 5, size=[b, 1, 1]),
             'translation_y': torch.randint(-4, 5, size=[b, 1, 1]),
             'cutout_x': torch.randint(0, 32 + 1, size=[b, 1, 1]),
             'cutout_y': torch.randint(0, 32 + 1, size=[b, 1, 1])}
    describe('g: DiffAugment', y)
    print('  g: draws', {k: v.view(-1).tolist() for k, v in draws.items()})
    cases['DiffAugmentSeeded'] = {
        'images': 'golden.images.32', 'seed': 1234, 'augmented': encode(y, full=True),
        'draws': {k: v.view(-1).tolist() for k, v in draws.items()}}

    doc = {
        'about': 'Reference Projected GAN outputs for deterministic weights; made by '
                 'tools/make_reference_golden.py (see its docstring for the value formulas), '
                 'checked by tests/trainer/reference_golden_test.cc.',
        'reference': 'autonomousvision/projected_gan e1c246b, timm 0.4.12, torch ' + torch.__version__,
        'sn_iterations': SN_ITERATIONS,
        'networks': networks,
        'cases': cases,
    }
    write_golden(doc, args.out)


if __name__ == '__main__':
    main()
