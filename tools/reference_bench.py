#!/usr/bin/env python3
"""Times the REFERENCE Projected GAN's training iteration on a GPU, for tools/gpu_check.sh's ratio
against `pgan bench` at the same configuration: training_loop.py's Gmain and Dmain phases through
loss.ProjectedGANLoss (batch_gpu = batch, one round each), the gradient scrub and both Adam steps
with the reference's D quirk, and the G_ema update, with TF32 off and cuDNN benchmarking on as
training_loop.py sets them. Random reals; the feature network is untrained (timm's weights cannot
be downloaded there; the time is the same).

    PYTHONPATH=/path/to/projected_gan:tools python3 tools/reference_bench.py \\
        --cfg fastgan_lite --res 256 --batch 16

Prints one line per iteration and `result: S s/iteration, X img/s`, as `pgan bench` does.
"""

import argparse
import copy
import time

import torch

import make_reference_golden as mrg
from training.loss import ProjectedGANLoss
import training.loss as loss_module


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cfg', default='fastgan_lite', choices=['fastgan', 'fastgan_lite'])
    ap.add_argument('--res', type=int, default=256)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--ngf', type=int, default=128)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--iters', type=int, default=20)
    args = ap.parse_args()

    device = torch.device('cuda')
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    loss_module.training_stats.report = lambda name, value: None

    cfg = mrg.config(cfg=args.cfg, res=args.res, ngf=args.ngf)
    G = mrg.build_g(cfg).to(device).train().requires_grad_(False)
    D = mrg.build_d(cfg).to(device).train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    G_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=[0, 0.99], eps=1e-8)
    mb_ratio = 16 / 17
    D_opt = torch.optim.Adam(D.parameters(), lr=2e-4 * mb_ratio,
                             betas=[0 ** mb_ratio, 0.99 ** mb_ratio], eps=1e-8)
    loss = ProjectedGANLoss(device=device, G=G, D=D, G_ema=G_ema)
    reals = torch.randint(0, 256, [args.batch, 3, args.res, args.res], dtype=torch.uint8)
    c = torch.zeros(args.batch, 0, device=device)
    z_dim = G.z_dim

    timed = 0.0
    for i in range(args.warmup + args.iters):
        start = time.perf_counter()
        real_img = reals.to(device).to(torch.float32) / 127.5 - 1
        for name, module, opt in [('Gmain', G, G_opt), ('Dmain', D, D_opt)]:
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            if name == 'Dmain':
                module.feature_network.requires_grad_(False)
            gen_z = torch.randn([args.batch, z_dim], device=device)
            loss.accumulate_gradients(phase=name, real_img=real_img, real_c=c, gen_z=gen_z,
                                      gen_c=c, gain=1, cur_nimg=i * args.batch)
            module.requires_grad_(False)
            params = [p for p in module.parameters() if p.grad is not None]
            flat = torch.cat([p.grad.flatten() for p in params])
            torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
            for p, grad in zip(params, flat.split([p.numel() for p in params])):
                p.grad = grad.reshape(p.shape)
            opt.step()
        with torch.no_grad():
            beta = 0.5 ** (args.batch / (args.batch * 10 / 32 * 1000))
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        warm = i >= args.warmup
        if warm:
            timed += seconds
        print(f'  iteration {i}{"" if warm else " (warm-up)"}: {seconds:.3f} s', flush=True)
    per_iteration = timed / args.iters
    print(f'result: {per_iteration:.3f} s/iteration, {args.batch / per_iteration:.3f} img/s, '
          f'peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GB')


if __name__ == '__main__':
    main()
