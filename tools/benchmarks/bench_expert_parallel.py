"""Tokens/s of the MoE layer: expert parallel on 2 CPU processes vs one process.

The same total tokens (2 images x 1100, D=256, H=2048, E=4, top-1, no
dropping) go through forward+backward of:

- one process holding all experts (``MoEFFN``), 1 and 2 torch threads;
- two gloo processes of 1 thread each, one image per rank, each holding
  2 experts (``ExpertParallelMoEFFN``); a step lasts until the slower rank ends.

Routing is forced by the gate: ``balanced`` sends token t to expert t mod E
(half of each rank's tokens travel), ``skewed`` sends every token of both
images to expert 0 (rank 0 computes everything, the worst case of dataset-aware
routing). The share of the step spent inside ``all_to_all_single`` (count and
token exchanges, forward and backward, waiting included) is timed separately.

    python tools/benchmarks/bench_expert_parallel.py [--repeats 10]
"""
import argparse
import json
import statistics
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from damex_mmdet.moe import MoEFFN
from damex_mmdet.moe.expert_parallel import ExpertParallelMoEFFN

DIMS, HIDDEN, EXPERTS = 256, 2048, 4
ROUTINGS = ('balanced', 'skewed')


def build(routing, tokens, images):
    """A top-1 layer and (images, tokens, D) inputs whose routing is forced."""
    torch.manual_seed(0)
    layer = MoEFFN(DIMS, HIDDEN, num_experts=EXPERTS,
                   router=dict(type='TopKRouter', gate_noise=0.0, balance_weight=0.0))
    x = torch.randn(images, tokens, DIMS)
    if routing == 'balanced':
        code = torch.arange(images * tokens).remainder(EXPERTS).view(images, tokens)
    else:
        code = torch.zeros(images, tokens, dtype=torch.long)
    with torch.no_grad():
        x[..., :EXPERTS] = 10 * torch.nn.functional.one_hot(code, EXPERTS).float()
        layer.router.gate.weight.zero_()
        layer.router.gate.weight[:, :EXPERTS] = torch.eye(EXPERTS)
    return layer, x


def step_times(layer, x, repeats, before_step=None):
    """Seconds of each forward+backward after 2 warm-up steps."""
    times = []
    for step in range(repeats + 2):
        if before_step is not None:
            before_step()
        start = time.perf_counter()
        layer(x).sum().backward()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return times


def _worker(rank, init_file, out_file, routing, tokens, repeats):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    full, x = build(routing, tokens, images=2)
    layer = ExpertParallelMoEFFN.from_moe(full)
    spent = [0.0]
    exchange = dist.all_to_all_single

    def timed_exchange(*args, **kwargs):
        start = time.perf_counter()
        result = exchange(*args, **kwargs)
        spent[0] += time.perf_counter() - start
        return result

    dist.all_to_all_single = timed_exchange  # counts every exchange of this process
    times, comm = [], []
    for step in range(repeats + 2):
        dist.barrier()
        spent[0] = 0.0
        start = time.perf_counter()
        layer(x[rank:rank + 1]).sum().backward()
        if step >= 2:
            times.append(time.perf_counter() - start)
            comm.append(spent[0])
    dist.all_to_all_single = exchange
    # a step ends with the slower rank: keep each step's maximum over ranks
    stats = torch.tensor([times, comm])
    dist.all_reduce(stats, op=dist.ReduceOp.MAX)
    if rank == 0:
        with open(out_file, 'w') as f:
            json.dump(dict(step=statistics.median(stats[0].tolist()),
                           comm=statistics.median(stats[1].tolist())), f)
    dist.destroy_process_group()


def expert_parallel(routing, tokens, repeats):
    with tempfile.TemporaryDirectory() as tmp:
        out = f'{tmp}/result.json'
        mp.spawn(_worker, args=(f'{tmp}/init', out, routing, tokens, repeats), nprocs=2)
        with open(out) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--tokens', type=int, default=1100, help='tokens per image')
    args = parser.parse_args()
    total = 2 * args.tokens
    print(f'CPU, gloo; tokens=2x{args.tokens} D={DIMS} H={HIDDEN} E={EXPERTS} top-1 '
          f'repeats={args.repeats} (medians)')
    print('| routing | setup | ms / step | tokens/s | speed vs 1 proc x 1 thread '
          '| all_to_all share |')
    print('|---|---|---|---|---|---|')
    for routing in ROUTINGS:
        rows = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            layer, x = build(routing, args.tokens, images=2)
            rows.append((f'1 process x {threads} thread(s)',
                         statistics.median(step_times(layer, x, args.repeats)), None))
        result = expert_parallel(routing, args.tokens, args.repeats)
        rows.append(('2 processes x 1 thread (EP)', result['step'], result['comm']))
        base = rows[0][1]
        for name, seconds, comm in rows:
            share = '-' if comm is None else f'{100 * comm / seconds:.0f}%'
            print(f'| {routing} | {name} | {1000 * seconds:.1f} | {total / seconds:.0f} '
                  f'| {base / seconds:.2f}x | {share} |')


if __name__ == '__main__':
    main()
