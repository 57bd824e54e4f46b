"""Forward+backward time of the native top-1 MoEFFN vs a dense FFN of the same width.

Shapes follow DINO's decoder: 2 images x 1100 tokens (900 queries + 200
denoising), D=256, hidden 2048. Routing is forced by the gate weights:
'balanced' spreads tokens evenly over the experts, 'skewed' sends each image
to one expert (what dataset-aware routing does). No dropping (cf=0).
Prints a table with the MoE/dense time ratio measured side by side (median of
per-step ratios); where tutel is installed, its backend (``TutelMoEFFN``, same
weights) runs in the same interleaved loop and gets its own columns.

    python tools/benchmarks/bench_moe_layer.py [--repeats 60] [--threads 2] [--retain-freed-memory]

Allocator note: with glibc's defaults, freed buffers of several MB go back to
the OS and the next step page-faults them in again; which module pays that
depends on the allocation history, and it is most often the dense FFN (its
(N, H) activation is one 18 MB buffer, each expert's is E times smaller).
``--retain-freed-memory`` keeps freed memory in the process (like jemalloc or
tcmalloc would), so the ratio measures compute alone; report both.
"""
import argparse
import ctypes
import ctypes.util
import statistics
import time

import torch
import torch.nn as nn

from damex_mmdet.moe import MoEFFN, routing_session
from damex_mmdet.moe.tutel_backend import TutelMoEFFN, tutel_available


class DenseFFN(nn.Module):
    """mmcv FFN equivalent: x + fc2(relu(fc1(x)))."""

    def __init__(self, dims, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dims, hidden), nn.Linear(hidden, dims)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


class InSession(nn.Module):
    """An MoE layer run as in a detector: inside a routing session that records its plan."""

    def __init__(self, moe):
        super().__init__()
        self.moe = moe

    def forward(self, x):
        with routing_session(self.moe):
            return self.moe(x)


class ExpertsAlone(nn.Module):
    """The MoE layer's experts on tokens already grouped by expert: no router,
    no gather or combine. Its time over the dense FFN's is what splitting one
    FFN into E experts costs by itself (E weight matrices to read and pack per
    GEMM, E weight gradients, smaller GEMMs)."""

    def __init__(self, moe, counts):
        super().__init__()
        self.experts, self.counts = moe.experts, counts

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        return x + self.experts(flat, self.counts).view_as(x)


def force_routing(moe, x, mode):
    """Make the gate route tokens evenly ('balanced') or per image ('skewed')."""
    batch, tokens, dims = x.shape
    num_experts = moe.num_experts
    with torch.no_grad():
        if mode == 'balanced':
            code = torch.arange(batch * tokens).remainder(num_experts).view(batch, tokens)
        else:
            code = torch.arange(batch).remainder(num_experts)[:, None].expand(batch, tokens)
        # a one-hot code in the first E dimensions selects the expert
        x[..., :num_experts] = 0
        x[..., :num_experts] += 10 * nn.functional.one_hot(code, num_experts).float()
        moe.router.gate.weight.zero_()
        moe.router.gate.weight[:, :num_experts] = torch.eye(num_experts)


def retain_freed_memory():
    """Ask glibc to serve every allocation up to 32 MB from the heap and never trim it.

    Returns:
        bool: False where glibc's ``mallopt`` is not available.
    """
    libc_name = ctypes.util.find_library('c')
    libc = ctypes.CDLL(libc_name) if libc_name else None
    if libc is None or not hasattr(libc, 'mallopt'):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
                and libc.mallopt(m_trim_threshold, 2**31 - 1))


def time_side_by_side(modules, x, repeats):
    """Per-step seconds of one forward+backward per module, runs interleaved.

    Interleaving (in a rotating order) exposes the modules to the same machine
    load; ratios are taken per step (paired) before the median, so slow
    drifts of the machine's speed cancel out.

    Returns:
        list[list[float]]: ``repeats`` times per module, warm-up excluded.
    """
    times = [[] for _ in modules]
    for step in range(repeats + 2):
        # rotate the order every step: no module always runs first (or after a given one)
        for i in [(step + j) % len(modules) for j in range(len(modules))]:
            module = modules[i]
            module.zero_grad(set_to_none=True)  # as an optimizer step would
            start = time.perf_counter()
            module(x).sum().backward()
            if step >= 2:  # warm-up
                times[i].append(time.perf_counter() - start)
    return times


def paired_ratio(num, den):
    """Median over steps of ``num[i] / den[i]``."""
    return statistics.median(a / b for a, b in zip(num, den))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=60)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--tokens', type=int, default=1100)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--retain-freed-memory', action='store_true',
                        help='keep freed memory in the process (no page faults; see above)')
    args = parser.parse_args()
    allocator = 'glibc default'
    if args.retain_freed_memory:
        if not retain_freed_memory():
            parser.error('--retain-freed-memory needs glibc (mallopt not found).')
        allocator = 'freed memory retained'
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dims, hidden, batch = 256, 2048, 2
    print(f'device={args.device} threads={torch.get_num_threads()} tokens={batch}x{args.tokens} '
          f'D={dims} H={hidden} repeats={args.repeats} allocator: {allocator}')
    with_tutel = tutel_available()
    if with_tutel:
        print('| experts | routing | dense ms | MoE ms | MoE / dense | experts alone / dense '
              '| tutel ms | tutel / dense | native / tutel |')
        print('|---|---|---|---|---|---|---|---|---|')
    else:
        print('(tutel is not installed: native backend only)')
        print('| experts | routing | dense ms | MoE ms | MoE / dense | experts alone / dense |')
        print('|---|---|---|---|---|---|')
    dense = DenseFFN(dims, hidden).to(args.device)
    for num_experts in (4, 8):
        for mode in ('balanced', 'skewed'):
            moe = MoEFFN(dims, hidden, num_experts=num_experts,
                         router=dict(type='TopKRouter', gate_noise=0.0)).to(args.device)
            x = torch.randn(batch, args.tokens, dims, device=args.device)
            force_routing(moe, x, mode)
            x.requires_grad_(True)
            load = torch.bincount(moe.router(x.detach().view(-1, dims)).expert_index.view(-1),
                                  minlength=num_experts).tolist()
            modules = [dense, InSession(moe), ExpertsAlone(moe, load)]
            if with_tutel:
                tutel = TutelMoEFFN(dims, hidden, num_experts=num_experts,
                                    router=dict(type='TopKRouter', gate_noise=0.0))
                tutel.load_state_dict(moe.state_dict())
                modules.append(InSession(tutel.to(args.device)))
            times = time_side_by_side(modules, x, args.repeats)
            t_dense, t_moe = (statistics.median(t) for t in times[:2])
            row = (f'| {num_experts} | {mode} {load} | {t_dense * 1e3:.1f} | {t_moe * 1e3:.1f} '
                   f'| {paired_ratio(times[1], times[0]):.3f} '
                   f'| {paired_ratio(times[2], times[0]):.3f} |')
            if with_tutel:
                t_tutel = statistics.median(times[3])
                row += (f' {t_tutel * 1e3:.1f} | {paired_ratio(times[3], times[0]):.3f} '
                        f'| {paired_ratio(times[1], times[3]):.3f} |')
            print(row)


if __name__ == '__main__':
    main()
