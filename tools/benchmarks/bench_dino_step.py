"""One DINO training iteration with MoE layers vs dense DINO, side by side.

Every model comes from the tiny configs of the built-in benchmark (ResNet-18,
2+3 layers, FFN 512, 100 queries); the MoE variants convert decoder layers 0
and 2 into 4-expert MoE layers (DAMEX by default; vanilla MoE, GEM, ReMoE,
Soft MoE and MoE++ with ``--variants``). Iterations (forward, loss, backward,
AdamW step) on the same fixed batch are interleaved so all see the same
machine load; the median time per iteration, its ratio to dense and the
parameter counts are printed.

    python tools/benchmarks/bench_dino_step.py [--repeats 10] [--batch 4] [--size 128]
    python tools/benchmarks/bench_dino_step.py --variants damex remoe softmoe moepp
"""
import argparse
import os.path as osp
import statistics
import time

import torch
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

import damex_mmdet  # noqa: F401

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
VARIANTS = dict(
    dense='dino/dino-tiny_r18_1xb4-600i_damex-default.py',
    moe='moe/dino-moe-tiny_r18_1xb4-600i_damex-default.py',
    damex='damex/damex-dino-tiny_r18_1xb4-600i_damex-default.py',
    gem='gem/gem-dino-tiny_r18_1xb4-600i_damex-default.py',
    remoe='remoe/remoe-dino-tiny_r18_1xb4-600i_damex-default.py',
    softmoe='softmoe/softmoe-dino-tiny_r18_1xb4-600i_damex-default.py',
    moepp='moepp/moepp-dino-tiny_r18_1xb4-600i_damex-default.py')
NAMES = ('watercolor', 'comic', 'street', 'signs', 'kitchen', 'xray')


def make_batch(model, batch, size, device):
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(batch):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=gen, dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
            dataset_name=NAMES[i % len(NAMES)]))
        xy = torch.rand(2, 2, generator=gen) * size / 2
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + size / 4], 1), labels=torch.tensor([i % 17, (i + 3) % 17]))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return data['inputs'].to(device), data['data_samples']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--variants', nargs='+', default=['damex'],
                        choices=sorted(set(VARIANTS) - {'dense'}),
                        help='MoE variants to time next to dense (default: damex)')
    args = parser.parse_args()
    models, optims, batches = {}, {}, {}
    for name in ['dense'] + [v for v in args.variants if v != 'dense']:
        rel = VARIANTS[name]
        torch.manual_seed(0)
        model = MODELS.build(Config.fromfile(osp.join(CONFIGS, rel)).model).to(args.device)
        model.init_weights()
        model.train()
        models[name] = model
        optims[name] = torch.optim.AdamW(model.parameters(), lr=1e-4)
        batches[name] = make_batch(model, args.batch, args.size, args.device)
    times = {name: [] for name in models}
    for step in range(args.repeats + 2):
        for name, model in models.items():
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            start = time.perf_counter()
            losses = model.loss(*batches[name])
            total = sum(v for k, v in losses.items() if 'loss' in k)
            optims[name].zero_grad()
            total.backward()
            optims[name].step()
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            if step >= 2:
                times[name].append(time.perf_counter() - start)
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()}
    median = {n: statistics.median(t) for n, t in times.items()}
    print(f'device={args.device} threads={torch.get_num_threads()} batch={args.batch} '
          f'size={args.size} repeats={args.repeats}')
    print('| model | params | s / iter | time ratio to dense | extra params |')
    print('|---|---|---|---|---|')
    for name in models:
        print(f"| {name} | {params[name] / 1e6:.2f} M | {median[name]:.3f} | "
              f"{median[name] / median['dense']:.3f} | "
              f"{(params[name] - params['dense']) / 1e6:+.2f} M |")
    for name in models:
        if name != 'dense':
            print(f"{name} / dense time ratio: {median[name] / median['dense']:.3f}")


if __name__ == '__main__':
    main()
