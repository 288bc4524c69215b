#!/usr/bin/env python3
"""Writes tests/trainer/testdata/iteration_golden.json: one complete training iteration of the
REFERENCE Projected GAN (training/training_loop.py's phase loop with loss.ProjectedGANLoss: the G
phase, the D phase, both Adam steps with the reference's D quirk, and the G_ema update), from
deterministic weights and with pgan's random draws injected, for
tests/trainer/iteration_golden_test.cc, which runs pgan's TrainingStep on the same weights and
compares every parameter and buffer of G, G_ema and D afterwards.

Same environment and value formulas as tools/make_reference_golden.py (run it with the same
PYTHONPATH plus tools/):

    PYTHONPATH=/path/to/projected_gan:/path/to/timm-0.4.12:tools /usr/bin/python3 \\
        tools/make_iteration_golden.py --out tests/trainer/testdata/iteration_golden.json

The model is FastGAN at 128 px with ngf 8 (noise injection included; its weights get the kind
``noise`` of make_stylegan2_golden.py instead of 0, so that the noise matters) and the
tf_efficientnet_lite0 discriminator. The iteration has batch 4 in 2 rounds of 2 (batch_gpu 2), one
process, seed 7, iteration 3, cur_nimg 20000 (EMA beta 0.5^(4 / 1000)). Reals are
floor(u * 256) as uint8 for the key ``golden.reals.128``.

pgan's draws are reproduced here rather than the reference's global stream: every sample i of a
round has its own torch.Generator seeded with pgan's SampleKey(seed, iteration, i, purpose)
(MixSeed: SplitMix64 over the words), and the latents, the noise of every NoiseInjection and the
DiffAugment parameters are drawn from those generators in pgan's order. The reference's code is
unchanged: DiffAugment's torch.rand / torch.randint calls and NoiseInjection's torch.randn are
answered with those draws, in the reference's own call order.
"""

import argparse
import copy

import numpy as np
import torch

import make_reference_golden as mrg
import pg_modules.blocks as blocks
import pg_modules.diffaug as diffaug
import pg_modules.discriminator as discriminator
from training.loss import ProjectedGANLoss
import training.loss as loss_module

SEED, ITERATION, CUR_NIMG, BATCH, BATCH_GPU, RES = 7, 3, 20000, 4, 2, 128
# pgan's RandomPurpose values.
G_LATENT, G_NOISE, G_AUGMENT = 1, 3, 4
D_LATENT, D_NOISE, D_AUG_FAKE, D_AUG_REAL = 5, 7, 8, 9
M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9e3779b97f4a7c15) & M64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M64
    return x ^ (x >> 31)


def mix_seed(words):
    h = 0x6a09e667f3bcc909
    for w in words:
        h = splitmix64(h ^ splitmix64(w & M64))
    return h


def generators(round_idx, purpose):
    """pgan's SampleRandom for one round: one generator per global sample index."""
    return [torch.Generator().manual_seed(mix_seed([SEED, ITERATION, round_idx * BATCH_GPU + e,
                                                    purpose]))
            for e in range(BATCH_GPU)]


def per_sample(gens, draw):
    return torch.cat([draw(g) for g in gens], 0)


# Injection: the generators that answer the next NoiseInjection and DiffAugment calls.
CURRENT = {'noise': None, 'augment': []}


def noise_forward(self, feat, noise=None):
    _, _, height, width = feat.shape
    noise = per_sample(CURRENT['noise'], lambda g: torch.randn([1, 1, height, width], generator=g))
    return feat + self.weight * noise


class _DrawnTorch:
    """torch for pg_modules.diffaug, with rand/randint answered from a queue of pgan's draws."""

    def __init__(self):
        self.queue = []

    def rand(self, *size, **kwargs):
        return self.queue.pop(0)

    def randint(self, low, high, size=None, **kwargs):
        return self.queue.pop(0)

    def __getattr__(self, name):
        return getattr(torch, name)


DRAWN = _DrawnTorch()
_REFERENCE_DIFFAUGMENT = diffaug.DiffAugment


def injected_diffaugment(x, policy='', channels_first=True):
    # pgan's SampleDiffAugmentParams, per sample in this order.
    gens = CURRENT['augment'].pop(0)
    side = x.size(2)
    shift = int(side * 0.125 + 0.5)
    cut = int(side * 0.2 + 0.5)
    uniform = lambda: per_sample(gens, lambda g: torch.rand([1, 1, 1, 1], generator=g))
    randint = lambda lo, hi: per_sample(
        gens, lambda g: torch.randint(lo, hi, [1, 1, 1], generator=g, dtype=torch.int64))
    DRAWN.queue = [uniform(), uniform(), uniform(), randint(-shift, shift + 1),
                   randint(-shift, shift + 1), randint(0, side + (1 - cut % 2)),
                   randint(0, side + (1 - cut % 2))]
    out = _REFERENCE_DIFFAUGMENT(x, policy=policy, channels_first=channels_first)
    assert not DRAWN.queue, 'DiffAugment drew fewer numbers than pgan'
    return out


def encode(t):
    a = t.detach().double().reshape(-1).numpy()
    n = a.size
    stride = 1 if n <= 64 else ((n // 48) | 1)
    out = {'shape': list(t.shape), 'stride': stride,
           'values': [mrg._f(x) for x in t.detach().float().reshape(-1).numpy()[::stride]]}
    if stride != 1:
        out.update(sum=float(a.sum()), sum_abs=float(np.abs(a).sum()), sum_sq=float((a * a).sum()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    blocks.NoiseInjection.forward = noise_forward
    diffaug.torch = DRAWN
    discriminator.DiffAugment = injected_diffaugment
    reported = {}
    loss_module.training_stats.report = (
        lambda name, value: reported.setdefault(name, []).append(float(value.detach().mean())))

    cfg = mrg.config(cfg='fastgan', res=RES)
    with torch.no_grad():
        G = mrg.build_g(cfg)
        g_state = mrg.fill(G, mrg.G_BN_VAR_SCALE)
        for name, m in G.named_modules():
            if isinstance(m, blocks.NoiseInjection):
                key = name + '.weight'
                m.weight.copy_(torch.from_numpy((mrg.uniform(key, 1) - 0.5) * 0.2 + 0.2))
                for entry in g_state:
                    if entry[0] == key:
                        entry[1] = 'noise'
        D = mrg.build_d(cfg)
        d_state = mrg.fill(D, mrg.D_BN_VAR_SCALE)
    # As training_loop.py sets them up.
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    G_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=[0, 0.99], eps=1e-8)
    mb_ratio = 16 / 17
    D_opt = torch.optim.Adam(D.parameters(), lr=2e-4 * mb_ratio,
                             betas=[0 ** mb_ratio, 0.99 ** mb_ratio], eps=1e-8)
    loss = ProjectedGANLoss(device=torch.device('cpu'), G=G, D=D, G_ema=G_ema)

    u = mrg.uniform('golden.reals.128', BATCH * 3 * RES * RES)
    reals = torch.from_numpy(np.floor(u * 256).reshape(BATCH, 3, RES, RES)).to(torch.uint8)
    real_img = (reals.to(torch.float32) / 127.5 - 1).split(BATCH_GPU)
    rounds = BATCH // BATCH_GPU
    c = torch.zeros(BATCH_GPU, 0)

    for name, module, opt, z_purpose, noise_purpose, aug_purposes in [
            ('Gmain', G, G_opt, G_LATENT, G_NOISE, [G_AUGMENT]),
            ('Dmain', D, D_opt, D_LATENT, D_NOISE, [D_AUG_FAKE, D_AUG_REAL])]:
        opt.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        if name == 'Dmain':
            module.feature_network.requires_grad_(False)
        for r in range(rounds):
            gen_z = per_sample(generators(r, z_purpose),
                               lambda g: torch.randn([1, cfg['z_dim']], generator=g))
            CURRENT['noise'] = generators(r, noise_purpose)
            CURRENT['augment'] = [generators(r, p) for p in aug_purposes]
            loss.accumulate_gradients(phase=name, real_img=real_img[r], real_c=c, gen_z=gen_z,
                                      gen_c=c, gain=1, cur_nimg=CUR_NIMG)
            assert not CURRENT['augment']
        module.requires_grad_(False)
        params = [p for p in module.parameters() if p.grad is not None]
        flat = torch.cat([p.grad.flatten() for p in params])
        torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
        for p, grad in zip(params, flat.split([p.numel() for p in params])):
            p.grad = grad.reshape(p.shape)
        opt.step()

    with torch.no_grad():
        ema_nimg = min(BATCH * 10 / 32 * 1000, CUR_NIMG * 0.05)
        ema_beta = 0.5 ** (BATCH / max(ema_nimg, 1e-8))
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.lerp(p_ema, ema_beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)

    print('  losses', {k: v for k, v in reported.items() if k in ('Loss/G/loss', 'Loss/D/loss')})
    after = {}
    for prefix, net in (('G', G), ('G_ema', G_ema), ('D', D)):
        for key, t in net.state_dict().items():
            after[f'{prefix}.{key}'] = encode(t)
    doc = {
        'about': 'One reference Projected GAN training iteration with pgan\'s draws; made by '
                 'tools/make_iteration_golden.py, checked by tests/trainer/iteration_golden_test.cc.',
        'reference': 'autonomousvision/projected_gan e1c246b, timm 0.4.12, torch ' + torch.__version__,
        'sn_iterations': mrg.SN_ITERATIONS,
        'networks': {
            'G': {'type': 'G', 'config': cfg, 'bn_var_scale': mrg.G_BN_VAR_SCALE, 'state': g_state},
            'D': {'type': 'D', 'config': cfg, 'bn_var_scale': mrg.D_BN_VAR_SCALE, 'state': d_state}},
        'iteration': {'seed': SEED, 'iteration': ITERATION, 'cur_nimg': CUR_NIMG, 'batch': BATCH,
                      'batch_gpu': BATCH_GPU, 'reals': 'golden.reals.128',
                      'g_loss_sum': sum(reported['Loss/G/loss']),
                      'd_loss_sum': sum(reported['Loss/D/loss'])},
        'after': after,
    }
    mrg.write_golden(doc, args.out)


if __name__ == '__main__':
    main()
