"""Command-line plumbing shared by the analysis tools in ``tools/analysis/``."""
import argparse
from typing import Optional

import torch
from mmengine.config import DictAction

from .builders import build_test_dataloader, load_config, load_moe_detector
from .routing_collector import collect_routing
from .routing_stats import RoutingStats

__all__ = ['add_model_data_args', 'model_and_loader_from_args', 'collect_from_args']


def add_model_data_args(parser: argparse.ArgumentParser,
                        max_images: Optional[int] = None) -> argparse.ArgumentParser:
    """Add ``config checkpoint --out-dir --split --max-images --batch-size --num-workers
    --device --cfg-options`` to ``parser`` (``max_images``: default of ``--max-images``)."""
    parser.add_argument('config', help='model + data config (e.g. configs/damex/...)')
    parser.add_argument('checkpoint', help='trained checkpoint (.pth)')
    parser.add_argument('--out-dir', required=True, help='folder for the outputs')
    parser.add_argument('--split', choices=('test', 'val'), default='test',
                        help='dataloader of the config to run (default: test)')
    parser.add_argument('--max-images', type=int, default=max_images,
                        help='first N images of EACH source dataset (default: '
                        f'{"all" if max_images is None else max_images})')
    parser.add_argument('--batch-size', type=int, default=None,
                        help="override the dataloader's batch size")
    parser.add_argument('--num-workers', type=int, default=None,
                        help="override the dataloader's worker processes")
    parser.add_argument('--device', default='cuda:0' if torch.cuda.is_available() else 'cpu',
                        help='device of the model (default: cuda:0 when available, else cpu)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (mmengine syntax)')
    return parser


def model_and_loader_from_args(args: argparse.Namespace):
    """``(model, dataloader)`` described by the arguments of :func:`add_model_data_args`."""
    cfg = load_config(args.config, args.cfg_options)
    model = load_moe_detector(cfg, args.checkpoint, args.device)
    loader = build_test_dataloader(cfg, args.split, args.max_images, args.batch_size,
                                   args.num_workers)
    return model, loader


def collect_from_args(args: argparse.Namespace) -> RoutingStats:
    """Build model and data from the arguments and run :func:`collect_routing`."""
    model, loader = model_and_loader_from_args(args)
    return collect_routing(model, loader, progress=True)
