"""Benchmark GEM planning (LP) + compiling: hierarchical rounding and the exact compiler.

For each size (datasets x experts) a random instance is drawn with a fixed
seed: affinities uniform in [0, 1), demands = images per dataset (log-uniform
in [100, 100000]), capacity = ``slack * max(total demand / E, largest
demand)`` per expert ("images" rows). "count" rows use demand 1 and
``ceil(slack * D / E)`` datasets per expert; their LP is already integral.

Columns: number of fractional LP rows, LP time, compile time, their total and
its ratio to the 2 s target (< 1 is within target), the relative gap
``(LP bound - value) / LP bound``, then the compile time and relative gap with
``refine_fixed=True``, then the exact compiler (``compile_exact``, 10 s MILP
limit): its time, method, whether it proved optimality and its relative gap
(the LP bound is not always reachable by an integral mapping, so an optimal
mapping can still show a gap). Times are medians over ``--repeats`` runs, all
in one process so the ratios compare like with like.

A second table times count demand (an assignment problem) side by side:
``scipy.optimize.linear_sum_assignment`` called by hand on the
capacity-repeated affinity, the planner (``plan_expert_mapping``, which
solves it directly), and the LP path (LP + exact compiler), with the ratios
planner / by hand (target: <= 2) and LP path / by hand, and whether the
three reach the same optimum.

Usage::

    python tools/benchmarks/bench_planning.py [--repeats 3] [--seed 0] [--slack 1.1]
"""
import argparse
import math
import time

import numpy as np

from scipy.optimize import linear_sum_assignment

from damex_mmdet.planning import (AffinityMatrix, compile_exact, compile_plan,
                                  plan_expert_mapping, solve_assignment_lp)

SIZES = ((11, 8), (100, 16), (1000, 64))
TARGET_S = 2.0
COLUMNS = ('D x E', 'capacity', 'frac rows', 'LP s', 'compile s', 'total s', 'total / 2 s',
           'rel gap', 'refine s', 'refine gap', 'exact s', 'exact method', 'exact gap')


def parse_args():
    parser = argparse.ArgumentParser(description='Time GEM planning + compiling.')
    parser.add_argument('--repeats', type=int, default=3, help='runs per size (median kept)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random instances')
    parser.add_argument('--slack', type=float, default=1.1,
                        help='capacity slack over the balanced load (>= 1)')
    return parser.parse_args()


def make_instance(num_datasets, num_experts, seed, slack, weighted):
    """Random affinity (D, E), capacity (E,) and demand (D,)."""
    rng = np.random.default_rng(seed)
    affinity = rng.random((num_datasets, num_experts))
    if weighted:
        demand = np.round(10**rng.uniform(2, 5, num_datasets))
        # Large enough for the largest dataset, else no integral mapping exists.
        capacity = np.full(num_experts, slack * max(demand.sum() / num_experts, demand.max()))
    else:
        demand = np.ones(num_datasets)
        capacity = np.full(num_experts, float(math.ceil(slack * num_datasets / num_experts)))
    return affinity, capacity, demand


def time_once(affinity, capacity, demand):
    """Seconds for the LP, the compile and the refined compile, plus results."""
    t0 = time.perf_counter()
    plan = solve_assignment_lp(affinity, capacity, demand)
    t1 = time.perf_counter()
    compiled = compile_plan(plan)
    t2 = time.perf_counter()
    refined = compile_plan(plan, refine_fixed=True)
    t3 = time.perf_counter()
    exact = compile_exact(plan)
    t4 = time.perf_counter()
    fractional = int(np.sum((plan.fractional > 1e-6).sum(axis=1) > 1))
    return (t1 - t0, t2 - t1, t3 - t2, t4 - t3), compiled, refined, exact, fractional


def main():
    args = parse_args()
    widths = [max(len(c), 9) for c in COLUMNS]
    print('| ' + ' | '.join(c.rjust(w) for c, w in zip(COLUMNS, widths)) + ' |')
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for num_datasets, num_experts in SIZES:
        for weighted in (True, False):
            inst = make_instance(num_datasets, num_experts, args.seed, args.slack, weighted)
            runs = [time_once(*inst) for _ in range(args.repeats)]
            lp_s, cp_s, rf_s, ex_s = np.median([r[0] for r in runs], axis=0)
            _, compiled, refined, exact, fractional = runs[0]
            total = lp_s + cp_s
            cells = (f'{num_datasets} x {num_experts}', 'images' if weighted else 'count',
                     str(fractional), f'{lp_s:.3f}', f'{cp_s:.3f}', f'{total:.3f}',
                     f'{total / TARGET_S:.3f}', f'{compiled.gap / compiled.bound:.2e}',
                     f'{rf_s:.3f}', f'{refined.gap / refined.bound:.2e}', f'{ex_s:.3f}',
                     f"{exact.compiler}{' (opt)' if exact.optimal else ''}",
                     f'{exact.gap / exact.bound:.2e}')
            print('| ' + ' | '.join(c.rjust(w) for c, w in zip(cells, widths)) + ' |')


def time_count_demand(num_datasets, num_experts, seed, slack, repeats):
    """Median seconds (by hand, planner, LP path) and their optimum values."""
    affinity, capacity, _ = make_instance(num_datasets, num_experts, seed, slack, False)
    matrix = AffinityMatrix(tuple(f'd{i}' for i in range(num_datasets)),
                            tuple(f'e{i}' for i in range(num_experts)), affinity)
    columns = np.repeat(np.arange(num_experts), capacity.astype(int))
    times, values = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows, cols = linear_sum_assignment(affinity[:, columns], maximize=True)
        t1 = time.perf_counter()
        mapping = plan_expert_mapping(matrix, capacity)
        t2 = time.perf_counter()
        exact = compile_exact(solve_assignment_lp(affinity, capacity))
        t3 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, t3 - t2))
        values = (float(affinity[rows, columns[cols]].sum()), mapping.value, exact.value)
    return np.median(times, axis=0), values, mapping.compiler


def count_demand_table(args):
    print('\nCount demand (assignment), side by side:\n')
    print('| D x E | by hand s | planner s | LP path s | planner / by hand | LP path / by hand '
          '| same optimum | planner method |')
    print('|---|---|---|---|---|---|---|---|')
    for num_datasets, num_experts in SIZES:
        (hand, planner, lp), values, method = time_count_demand(
            num_datasets, num_experts, args.seed, args.slack, args.repeats)
        same = np.allclose(values, values[0], rtol=1e-9)
        print(f'| {num_datasets} x {num_experts} | {hand:.4f} | {planner:.4f} | {lp:.4f} | '
              f'{planner / hand:.2f} | {lp / hand:.2f} | {same} | {method} |')


if __name__ == '__main__':
    main()
    count_demand_table(parse_args())
