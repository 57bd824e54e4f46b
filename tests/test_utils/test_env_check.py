import subprocess
import sys
import warnings

import pytest

from damex_mmdet.utils import env_check


def test_untested_version_warns_instead_of_asserting(monkeypatch):
    monkeypatch.setitem(env_check.TESTED_VERSIONS, 'mmdet', ('9.0.0', '10.0.0'))
    with pytest.warns(UserWarning, match=r'tested with mmdet>=9.0.0,<10.0.0'):
        found = env_check.check_environment()
    assert found['mmdet'] == '3.3.0'


def test_tested_versions_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        env_check.check_environment()


def test_missing_mmcv_ops_gives_one_clear_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)
    with pytest.raises(ImportError, match=r'MMCV_WITH_OPS=1 pip install'):
        env_check.require_mmcv_ops()


def test_pure_torch_parts_import_without_mmcv_or_mmdet():
    code = ('import sys\n'
            'for name in ("mmcv", "mmdet", "mmengine"):\n'
            '    sys.modules[name] = None\n'
            'import damex_mmdet.moe, damex_mmdet.planning\n'
            'print(sorted(m for m in sys.modules if m.startswith(("mmcv", "mmdet")) '
            'and sys.modules[m] is not None))\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[]'
