#!/usr/bin/env python3
"""Writes tests/trainer/testdata/stylegan2_golden.json: outputs of the REFERENCE Projected
StyleGAN2 (pg_modules/networks_stylegan2.py, with the pure-PyTorch fallbacks of torch_utils/ops
that the reference runs on a CPU) and of its separable discriminator, for deterministic weights
and inputs; tests/trainer/stylegan2_golden_test.cc recomputes them with pgan's modules.

Same environment and value formulas as tools/make_reference_golden.py (whose helpers this
imports; run it with the same PYTHONPATH):

    PYTHONPATH=/path/to/projected_gan:/path/to/timm-0.4.12:tools /usr/bin/python3 \\
        tools/make_stylegan2_golden.py --out tests/trainer/testdata/stylegan2_golden.json

StyleGAN2's own entries get these kinds (value = (u + shift) * scale + offset, float64):

    kind          entries                                          shift  scale           offset
    sg2_weight    conv / ToRGB / affine weights, const,            -0.5   sqrt(12)        0
                  noise_const (unit variance, as their randn init)
    sg2_map       mapping fc weights (stored as randn / 0.01)       -0.5   sqrt(12) / 0.01 0
    affine_bias   affine (style) biases, initialised to 1           -0.5   0.2             1
    noise         noise_strength                                    -0.5   0.2             0.2
    w_avg         mapping w_avg                                     -0.5   2               0
    keep          resample_filter (setup_filter([1, 3, 3, 1]), not overwritten)

Other entries (conv and fc biases: ``bias``; the discriminator's spectral-norm convolutions and
BatchNorms) are filled as make_reference_golden.py does.
"""

import argparse
import math

import torch

import make_reference_golden as mrg
from pg_modules.networks_stylegan2 import (FullyConnectedLayer, Generator, MappingNetwork,
                                           SynthesisBlock, SynthesisLayer, ToRGBLayer)

SQRT12 = math.sqrt(12)
AFFINES = {'sg2_weight': (-0.5, SQRT12, 0.0), 'sg2_map': (-0.5, SQRT12 / 0.01, 0.0),
           'affine_bias': (-0.5, 0.2, 1.0), 'noise': (-0.5, 0.2, 0.2), 'w_avg': (-0.5, 2.0, 0.0),
           'bias': (-0.5, 0.2, 0.0)}


def sg2_kinds(module):
    kinds = {}
    for mname, m in module.named_modules():
        prefix = mname + '.' if mname else ''
        own = list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))
        for name, _ in own:
            if name == 'resample_filter':
                kind = 'keep'
            elif isinstance(m, FullyConnectedLayer):
                mapping = prefix.startswith('mapping.fc')
                kind = {'weight': 'sg2_map' if mapping else 'sg2_weight',
                        'bias': 'bias' if mapping or prefix.startswith('mapping.embed')
                        else 'affine_bias'}[name]
            elif isinstance(m, (SynthesisLayer, ToRGBLayer)):
                kind = {'weight': 'sg2_weight', 'bias': 'bias', 'noise_const': 'sg2_weight',
                        'noise_strength': 'noise'}[name]
            elif isinstance(m, SynthesisBlock):
                kind = {'const': 'sg2_weight'}[name]
            elif isinstance(m, MappingNetwork):
                kind = {'w_avg': 'w_avg'}[name]
            else:
                raise RuntimeError(f'no kind for {prefix}{name} ({type(m).__name__})')
            kinds[prefix + name] = kind
    return kinds


def fill_g(G):
    state = G.state_dict()
    kinds = sg2_kinds(G)
    assert set(kinds) == set(state)
    new = {}
    for key, t in state.items():
        if kinds[key] == 'keep':
            new[key] = t
            continue
        shift, scale, offset = AFFINES[kinds[key]]
        v = (mrg.uniform(key, t.numel()) + shift) * scale + offset
        new[key] = torch.from_numpy(v.reshape(tuple(t.shape))).to(t.dtype)
    G.load_state_dict(new, strict=True)
    return [[k, kinds[k], list(t.shape)] for k, t in state.items()]


def g_config(res=32, c_dim=0, cbase=512, cmax=32, z_dim=64, w_dim=32, fp32=False):
    cfg = mrg.config(cfg='stylegan2', res=res, c_dim=c_dim)
    cfg.update(z_dim=z_dim, w_dim=w_dim, cbase=cbase, cmax=cmax, map_depth=2, fp32=fp32)
    return cfg


def build_g(cfg):
    kwargs = {}
    if cfg['fp32']:
        kwargs.update(num_fp16_res=0, conv_clamp=None)
    return Generator(z_dim=cfg['z_dim'], c_dim=cfg['c_dim'], w_dim=cfg['w_dim'],
                     img_resolution=cfg['resolution'], img_channels=3,
                     mapping_kwargs={'num_layers': cfg['map_depth']},
                     channel_base=cfg['cbase'], channel_max=cfg['cmax'],
                     fused_modconv_default='inference_only', **kwargs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    networks, cases = {}, {}

    z = mrg.input_tensor('golden.z64', (2, 64), 'latent')

    # a: eval (grouped "fused" convolutions), const noise; truncation.
    cfg = g_config()
    G = build_g(cfg).eval()
    networks['G_sg2_32'] = {'type': 'G', 'config': cfg, 'state': fill_g(G)}
    c0 = torch.zeros(2, 0)
    out = G(z, c0, noise_mode='const')
    mrg.describe('a: G sg2 32 eval const', out)
    ws = G.mapping(z, c0)
    cases['Stylegan2EvalConst'] = {'network': 'G_sg2_32', 'z': 'golden.z64',
                                   'ws': mrg.encode(ws), 'image': mrg.encode(out)}
    out = G(z, c0, truncation_psi=0.7, noise_mode='none')
    mrg.describe('a: trunc 0.7 none', out)
    cases['Stylegan2EvalTruncNone'] = {'network': 'G_sg2_32', 'z': 'golden.z64', 'psi': 0.7,
                                       'image': mrg.encode(out)}
    out = G(z, c0, truncation_psi=0.5, truncation_cutoff=3, noise_mode='const')
    cases['Stylegan2EvalTruncCutoff'] = {'network': 'G_sg2_32', 'z': 'golden.z64', 'psi': 0.5,
                                         'cutoff': 3, 'image': mrg.encode(out)}

    # b: training mode (shared weights, activations modulated), random noise from the global
    # generator, w_avg updated as in the reference's D phase.
    G.train()
    torch.manual_seed(5)
    ws = G.mapping(z, c0, update_emas=True)
    out = G.synthesis(ws, c0, update_emas=False)
    mrg.describe('b: G sg2 32 train random', out)
    cases['Stylegan2TrainRandom'] = {'network': 'G_sg2_32', 'z': 'golden.z64', 'seed': 5,
                                     'image': mrg.encode(out),
                                     'mapping.w_avg': mrg.encode(G.mapping.w_avg, full=True)}

    # c: conditional, 64 px, fp32 (no clamp), eval, no noise.
    cfg = g_config(res=64, c_dim=3, fp32=True)
    G = build_g(cfg).eval()
    networks['G_sg2_cond3_64'] = {'type': 'G', 'config': cfg, 'state': fill_g(G)}
    labels = [0, 2]
    out = G(z, mrg.onehot(labels, 3), noise_mode='none')
    mrg.describe('c: G sg2 cond 64', out)
    cases['Stylegan2CondEval64'] = {'network': 'G_sg2_cond3_64', 'z': 'golden.z64',
                                    'labels': labels, 'image': mrg.encode(out)}

    # d: the separable discriminator at 32 px (resized to 224), eval.
    cfg = mrg.config(cfg='stylegan2', res=32)
    cfg.update(z_dim=64, w_dim=128, cbase=32768, cmax=512, map_depth=2, fp32=False)
    D = mrg.build_d(cfg, separable=True).eval()
    networks['D_separable_32'] = {'type': 'D', 'config': cfg,
                                  'bn_var_scale': mrg.D_BN_VAR_SCALE,
                                  'state': mrg.fill(D, mrg.D_BN_VAR_SCALE)}
    x = torch.nn.functional.interpolate(mrg.input_tensor('golden.images.32', (2, 3, 32, 32),
                                                         'image'),
                                        224, mode='bilinear', align_corners=False)
    logits = D.discriminator(D.feature_network(x), None)
    mrg.describe('d: separable logits', logits)
    cases['SeparableDiscriminatorEval32'] = {'network': 'D_separable_32',
                                             'images': 'golden.images.32',
                                             'logits': mrg.encode(logits, full=True)}

    # e: parameter counts of `train.py --cfg stylegan2` at 256 px.
    G = build_g(g_config(res=256, cbase=32768, cmax=512, w_dim=128))
    D = mrg.build_d(cfg | {'resolution': 256}, separable=True)
    counts = {'G_params': sum(p.numel() for p in G.parameters()),
              'G_buffers': sum(b.numel() for b in G.buffers()),
              'D_trainable_params': sum(p.numel() for p in D.discriminator.parameters())}
    print('  e: counts at 256', counts)
    cases['Stylegan2Counts256'] = counts

    doc = {'about': 'Reference Projected StyleGAN2 outputs for deterministic weights; made by '
                    'tools/make_stylegan2_golden.py, checked by '
                    'tests/trainer/stylegan2_golden_test.cc.',
           'reference': 'autonomousvision/projected_gan e1c246b, timm 0.4.12, torch '
                        + torch.__version__,
           'sn_iterations': mrg.SN_ITERATIONS, 'networks': networks, 'cases': cases}
    mrg.write_golden(doc, args.out)


if __name__ == '__main__':
    main()
