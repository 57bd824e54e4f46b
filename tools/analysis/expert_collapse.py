"""Expert collapse check: are the experts of each MoE layer still different?

For every MoE layer: the E x E cosine similarity of the experts' flattened
weights and of their outputs on the same probe tokens, heatmaps, CSV files and
a one-line verdict from the mean off-diagonal similarity::

    python tools/analysis/expert_collapse.py CONFIG CHECKPOINT \\
        --out-dir work_dirs/analysis/damex [--tokens data|random] [--num-tokens 4096]

Probe tokens: ``data`` (default) captures what each MoE layer receives on the
first ``--max-images`` test images of every dataset; ``random`` uses seeded
standard-normal tokens standardised per token (no data needed).

Writes ``weight_similarity.csv``, ``output_similarity.csv`` (rows: layer,
expert; columns e0..), ``collapse.png`` (per layer: weights, then outputs) and
``collapse.md`` (verdict per layer).
"""
import argparse
import os
import os.path as osp

from mmengine.utils import track_iter_progress

from damex_mmdet.analysis import (capture_moe_inputs, collapse_verdict, expert_output_similarity,
                                  expert_weight_similarity, plot_similarity, standard_tokens)
from damex_mmdet.analysis.builders import build_test_dataloader, load_config, load_moe_detector
from damex_mmdet.analysis.cli import add_model_data_args
from damex_mmdet.evaluation.results_table import format_csv_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Cosine similarity of the experts of every MoE layer (weights, outputs).')
    add_model_data_args(parser, max_images=8)
    parser.add_argument('--tokens', choices=('data', 'random'), default='data',
                        help='probe tokens: MoE inputs on test images (default) or random '
                        'standardised tokens')
    parser.add_argument('--num-tokens', type=int, default=4096,
                        help='probe tokens per layer (default 4096)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the token sample')
    parser.add_argument('--threshold', type=float, default=0.9,
                        help='mean off-diagonal output similarity from which a layer counts as '
                        'collapsed (default 0.9)')
    return parser.parse_args(argv)


def probe_tokens(args, cfg, model) -> dict:
    """Layer name -> (M, D) probe tokens."""
    if args.num_tokens < 1:
        raise ValueError(f'--num-tokens must be >= 1, got {args.num_tokens}.')
    if args.tokens == 'random':
        return {name: standard_tokens(args.num_tokens, layer.embed_dims, args.seed)
                for name, layer in model.moe_layers.items()}
    loader = build_test_dataloader(cfg, args.split, args.max_images, args.batch_size,
                                   args.num_workers)
    return capture_moe_inputs(model, loader, args.num_tokens, args.seed)


def similarity_rows(matrices: dict) -> list:
    """CSV rows ``layer, expert, e0..`` of (E, E) matrices, 4 decimals."""
    size = next(iter(matrices.values())).shape[0]
    rows = [['layer', 'expert', *(f'e{e}' for e in range(size))]]
    for layer, matrix in matrices.items():
        for e in range(size):
            rows.append([layer, f'e{e}', *(f'{float(v):.4f}' for v in matrix[e])])
    return rows


def main(argv=None) -> list:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = load_moe_detector(cfg, args.checkpoint, args.device)
    tokens = probe_tokens(args, cfg, model)
    weights, outputs, verdicts = {}, {}, []
    for name in track_iter_progress(list(model.moe_layers)):
        layer = model.moe_layers[name]
        weights[name] = expert_weight_similarity(layer).numpy()
        outputs[name] = expert_output_similarity(layer, tokens[name]).numpy()
        verdicts.append(collapse_verdict(name, weights[name], outputs[name], args.threshold))
    os.makedirs(args.out_dir, exist_ok=True)
    for kind, matrices in (('weight', weights), ('output', outputs)):
        with open(osp.join(args.out_dir, f'{kind}_similarity.csv'), 'w',
                  encoding='utf-8') as handle:
            handle.write(format_csv_table(similarity_rows(matrices)))
    panels = {f'{name}\nweights': m for name, m in weights.items()}
    panels.update({f'{name}\noutputs ({args.tokens} tokens)': m for name, m in outputs.items()})
    plot_similarity(panels, osp.join(args.out_dir, 'collapse.png'))
    lines = [v['line'] for v in verdicts]
    with open(osp.join(args.out_dir, 'collapse.md'), 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(f'- {line}' for line in lines) + '\n')
    print('\n'.join(lines))
    return verdicts


if __name__ == '__main__':
    main()
