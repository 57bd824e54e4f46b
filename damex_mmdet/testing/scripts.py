"""Import a command-line script (``tools/...py``) as a module, to call its ``main``."""
import importlib.util
import os.path as osp
from types import ModuleType

__all__ = ['load_script']


def load_script(path: str) -> ModuleType:
    """Execute the script at ``path`` as a module (its ``__main__`` block does not run).

    Args:
        path (str): e.g. ``'tools/plan_experts.py'``.

    Returns:
        ModuleType: named ``script_<file stem>``.
    """
    name = 'script_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
