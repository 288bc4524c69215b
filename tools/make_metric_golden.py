#!/usr/bin/env python3
"""Writes tests/trainer/testdata/metrics/: two small image sets, TorchScript stand-ins of NVIDIA's
metric detectors, and the values the REFERENCE's own metric code gives for them, which
tests/trainer/reference_metrics_test.cc and tests/tools/pgan_cli_test.cc recompute with pgan.

Needs the reference code on PYTHONPATH: a checkout of autonomousvision/projected_gan at e1c246b
(``metrics``, ``dnnlib``, ``training.dataset``), plus torch, numpy, scipy and PIL. The committed
files were made on Debian 12 with python3-torch 1.13.1, python3-numpy 1.24.2, python3-scipy 1.10.1,
python3-pil and python3-requests (dnnlib imports it), with the checkout unmodified:

    PYTHONHASHSEED=0 PYTHONPATH=/path/to/projected_gan /usr/bin/python3 tools/make_metric_golden.py \\
        --out tests/trainer/testdata/metrics

Same inputs -> same files (PYTHONHASHSEED fixes the order TorchScript writes attributes in).
Runs on the CPU in seconds.

What it writes
--------------
real.zip, fake.zip   16x16 RGB PNGs in the reference's dataset_tool layout (00000/img00000000.png):
                     256 reals and 200 fakes, smooth random fields from numpy RandomState(1) and (2);
                     the fakes' colours are shifted so that every distance is clearly above zero.
inception.pt         forward(img: uint8 [N, 3, H, W], return_features: bool = False): resizes to
                     32x32 inside (bilinear, align_corners=False, as NVIDIA's Inception resizes to
                     299), normalises as (x - 128) / 128, two strided convolutions, tanh, and the
                     spatial mean and standard deviation: 32 features (2048 in the real file).
vgg16.pt             the same interface with other weights and 12 features (4096 in the real one).
expected.json        the reference's results, the real side's FeatureStats mean and covariance, and
                     both sides' stand-in Inception features (float32 values).

How the reference computes them
-------------------------------
The script calls ``metrics.metric_main.calc_metric`` with the registered ``fid50k_full``,
``kid50k_full`` and ``pr50k3_full``, so the reference's own registration (``xflip=False``,
``max_size=None``), its FeatureStats (float32 features, float64 sums, covariance divided by N), its
``scipy.linalg.sqrtm`` Frechet distance, its KID subsets and its k-NN precision/recall run
unchanged. Four things are wrapped, nothing else:
  * ``metric_utils.get_feature_detector`` returns the stand-in for the requested URL's file name
    (inception-2015-12-05 -> inception.pt, vgg16 -> vgg16.pt) instead of downloading NVIDIA's;
  * the number of generated images (50000 in the registration) is 200: the metric functions are
    called through a wrapper that passes num_gen=200, so the results are fid200_full etc.;
  * ``torch.cdist`` computes in float32 and rounds to float16: the reference calls it on float16
    features on a GPU, and LibTorch has no float16 cdist on a CPU. pgan does the same.
  * the dataset is read in-process (``num_workers=0``): Python 3.11's zipfile refuses the zip
    that the reference's three forked loader processes share ("Overlapped entries").
G is a stand-in that returns the fakes in order ((u8 - 127.5) / 127.5, which the reference's
``img * 127.5 + 128`` quantisation maps back to u8 exactly). The dataset kwargs ask for xflip=True,
which the ``_full`` registration must override. KID's subsets come from ``np.random``; the script
seeds it with 0 before kid50k_full, as pgan seeds its NumPy RandomState.
"""

import argparse
import io
import json
import os
import zipfile

import numpy as np
import PIL.Image
import torch

NUM_REAL = 256
NUM_FAKE = 200
RES = 16


def smooth_images(seed, count, shift):
    rs = np.random.RandomState(seed)
    out = []
    for _ in range(count):
        coarse = rs.uniform(0, 255, size=(4, 4, 3)).astype(np.float64)
        coarse = np.clip(coarse + np.array(shift), 0, 255).astype(np.uint8)
        img = PIL.Image.fromarray(coarse, 'RGB').resize((RES, RES), PIL.Image.BILINEAR)
        arr = np.asarray(img).astype(np.int16) + rs.randint(-8, 9, size=(RES, RES, 3))
        out.append(np.clip(arr, 0, 255).astype(np.uint8))
    return out


def write_zip(path, images):
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_STORED) as z:
        for i, img in enumerate(images):
            buf = io.BytesIO()
            PIL.Image.fromarray(img, 'RGB').save(buf, format='png', compress_level=9)
            info = zipfile.ZipInfo(f'{i // 1000:05d}/img{i:08d}.png', date_time=(2026, 12, 2, 0, 0, 0))
            z.writestr(info, buf.getvalue())


class StandIn(torch.nn.Module):
    def __init__(self, seed: int, width: int, classes: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(width, width // 2, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(width, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = img.to(torch.float32)
        if x.shape[2] != 32 or x.shape[3] != 32:
            x = torch.nn.functional.interpolate(x, size=[32, 32], mode='bilinear', align_corners=False)
        x = (x - 128) / 128
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        features = torch.cat([x.mean(dim=[2, 3]), x.std(dim=[2, 3])], dim=1)
        if return_features:
            return features
        return torch.nn.functional.softmax(self.fc(features), dim=1)


class FakeG(torch.nn.Module):
    def __init__(self, images):
        super().__init__()
        self.z_dim = 8
        self.c_dim = 0
        self.images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        self.next = 0

    def forward(self, z, c, **kwargs):
        n = z.shape[0]
        idx = [(self.next + k) % self.images.shape[0] for k in range(n)]
        self.next += n
        return (self.images[idx].to(torch.float32) - 127.5) / 127.5


def float32_list(a):
    # The shortest decimals that give these float32 values back.
    return [float(repr(v)) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    reals = smooth_images(1, NUM_REAL, 0)
    fakes = smooth_images(2, NUM_FAKE, (24, -16, 8))
    real_zip = os.path.join(args.out, 'real.zip')
    write_zip(real_zip, reals)
    write_zip(os.path.join(args.out, 'fake.zip'), fakes)

    detectors = {
        'inception-2015-12-05': torch.jit.script(StandIn(7, 32, 10).eval()),
        'vgg16': torch.jit.script(StandIn(8, 12, 10).eval()),
    }
    detectors['inception-2015-12-05'].save(os.path.join(args.out, 'inception.pt'))
    detectors['vgg16'].save(os.path.join(args.out, 'vgg16.pt'))

    from metrics import metric_main, metric_utils, frechet_inception_distance, \
        kernel_inception_distance, precision_recall

    metric_utils.get_feature_detector = lambda url, **kw: detectors[metric_utils.get_feature_detector_name(url)]
    real_cdist = torch.cdist
    torch.cdist = lambda a, b, *x, **kw: real_cdist(a.float(), b.float(), *x, **kw).half()

    def with_num_gen(fn):
        return lambda opts, *a, num_gen, **kw: fn(opts, *a, num_gen=NUM_FAKE, **kw)
    dataset_stats = metric_utils.compute_feature_stats_for_dataset
    metric_utils.compute_feature_stats_for_dataset = \
        lambda *a, **kw: dataset_stats(*a, data_loader_kwargs=dict(num_workers=0), **kw)
    frechet_inception_distance.compute_fid = with_num_gen(frechet_inception_distance.compute_fid)
    kernel_inception_distance.compute_kid = with_num_gen(kernel_inception_distance.compute_kid)
    precision_recall.compute_pr = with_num_gen(precision_recall.compute_pr)

    dataset_kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=real_zip,
                          use_labels=False, xflip=True, max_size=None, resolution=RES)
    expected = {'num_real': NUM_REAL, 'num_fake': NUM_FAKE, 'kid_seed': 0}
    for metric in ['fid50k_full', 'kid50k_full', 'pr50k3_full']:
        if metric == 'kid50k_full':
            np.random.seed(0)
        result = metric_main.calc_metric(metric=metric, G=FakeG(fakes), dataset_kwargs=dataset_kwargs,
                                         num_gpus=1, rank=0, device=torch.device('cpu'), cache=False)
        for key, value in result.results.items():
            expected[key.replace('50k', str(NUM_FAKE))] = value

    # The real side as FeatureStats holds it (the evaluator's dataset statistics).
    stats = metric_utils.compute_feature_stats_for_dataset(
        opts=metric_utils.MetricOptions(dataset_kwargs=dict(dataset_kwargs, xflip=False), device=torch.device('cpu'),
                                        cache=False),
        detector_url='https://example.invalid/inception-2015-12-05.pkl',
        detector_kwargs=dict(return_features=True), capture_mean_cov=True, capture_all=True)
    mean, cov = stats.get_mean_cov()
    fake_stats = metric_utils.compute_feature_stats_for_generator(
        opts=metric_utils.MetricOptions(G=FakeG(fakes), device=torch.device('cpu'), cache=False),
        detector_url='https://example.invalid/inception-2015-12-05.pkl',
        detector_kwargs=dict(return_features=True), capture_all=True, max_items=NUM_FAKE)
    expected['fake_features'] = float32_list(fake_stats.get_all())
    expected['real_mean'] = mean.tolist()
    expected['real_cov'] = cov.reshape(-1).tolist()
    expected['real_features'] = float32_list(stats.get_all())
    expected['feature_dim'] = int(mean.shape[0])
    with open(os.path.join(args.out, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write('\n')
    print({k: v for k, v in expected.items() if not isinstance(v, list)})


if __name__ == '__main__':
    main()
