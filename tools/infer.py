"""Run a trained detector on images: drawn boxes, one JSON per image, MoE routing.

    python tools/infer.py CONFIG CHECKPOINT INPUTS... --out-dir DIR
        [--score-thr 0.3] [--device cpu] [--batch-size 1]

INPUTS are image files, folders (searched recursively) or glob patterns. No
dataset label is needed: the detector answers in the combined label space
(``dataset/class`` names). Writes ``DIR/vis/<image>`` (drawn with mmdet's
visualiser), ``DIR/preds/<image>.json`` and, for MoE detectors,
``DIR/routing.md``: for every image and MoE layer, the expert most of its
tokens chose and the datasets the expert map sends there. Built on
``mmdet.apis.DetInferencer`` (:func:`damex_mmdet.apis.infer_images`).
"""
import argparse
import sys

import damex_mmdet  # noqa: F401  (registers modules and the safe checkpoint loader)
from damex_mmdet.apis import infer_images, routing_summary_markdown
from damex_mmdet.utils.safe_checkpoint import trust_local_checkpoints


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the model config (shipped, or the copy in the work_dir)')
    parser.add_argument('checkpoint', help='trained weights (.pth)')
    parser.add_argument('inputs', nargs='+', help='image files, folders or glob patterns')
    parser.add_argument('--out-dir', required=True, help='where vis/, preds/ and routing.md go')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes below this score are not drawn or written (default 0.3)')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' (default), 'cuda:0'")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward')
    parser.add_argument('--no-draw', action='store_true', help='write no drawn images')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load a checkpoint you trust without the allow-list (runs its '
                        'pickle)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.batch_size < 1:
        raise SystemExit(f'--batch-size {args.batch_size}: give 1 or more.')
    if not 0 <= args.score_thr <= 1:
        raise SystemExit(f'--score-thr {args.score_thr}: give a score in [0, 1].')
    if args.trust_checkpoint:
        trust_local_checkpoints()
    try:
        results = infer_images(args.config, args.checkpoint, args.inputs, out_dir=args.out_dir,
                               score_thr=args.score_thr, device=args.device,
                               batch_size=args.batch_size, progress=not args.no_progress,
                               draw=not args.no_draw)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'tools/infer.py: {err}') from None
    boxes = sum(len(r['predictions']) for r in results)
    print(f'{len(results)} images, {boxes} boxes with score >= {args.score_thr}; '
          f'written to {args.out_dir}/preds (JSON)' +
          ('' if args.no_draw else f' and {args.out_dir}/vis (drawn)'))
    table = routing_summary_markdown(results)
    if table:
        print(f'routing (top-1 expert per MoE layer; also in {args.out_dir}/routing.md):')
        print(table)
    return results


if __name__ == '__main__':
    main(sys.argv[1:])
