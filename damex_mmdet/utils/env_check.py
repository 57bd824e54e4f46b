"""Import-time checks of the OpenMMLab stack: warn, never assert."""
import importlib.metadata as metadata
import warnings

__all__ = ['check_environment', 'require_mmcv_ops', 'TESTED_VERSIONS']

# package -> (lowest tested, first untested) version, compared on the release tuple.
TESTED_VERSIONS = {
    'mmengine': ('0.10.0', '1.0.0'),
    'mmcv': ('2.0.0', '2.2.0'),
    'mmdet': ('3.0.0', '3.4.0'),
}

_MMCV_OPS_HINT = (
    'damex_mmdet needs the compiled mmcv ops (DINO uses '
    'mmcv.ops.MultiScaleDeformableAttention) but `import mmcv.ops` failed '
    '({err}); rebuild mmcv with them: `MMCV_WITH_OPS=1 pip install '
    '--no-build-isolation --force-reinstall mmcv==2.1.0`, or run '
    '`bash tools/setup_env.sh`.')


def _release(version):
    """Turn ``'2.1.0rc1'`` into ``(2, 1, 0)`` for comparisons."""
    parts = []
    for piece in version.split('.')[:3]:
        digits = ''.join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def check_environment():
    """Warn (once per package) when an installed version was never tested.

    Returns:
        dict[str, str | None]: installed version of each checked package.
    """
    found = {}
    for name, (low, high) in TESTED_VERSIONS.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
            continue
        found[name] = version
        if not _release(low) <= _release(version) < _release(high):
            warnings.warn(
                f'damex_mmdet was tested with {name}>={low},<{high} but '
                f'{name}=={version} is installed; if something breaks, '
                f'install a tested version (tools/setup_env.sh pins them).',
                stacklevel=2)
    return found


def require_mmcv_ops():
    """Import ``mmcv.ops`` or raise one ImportError sentence saying how to fix it."""
    try:
        import mmcv.ops  # noqa: F401
    except (ImportError, OSError) as err:
        raise ImportError(_MMCV_OPS_HINT.format(err=err)) from err
