"""Setuptools entry point; metadata lives in setup.cfg.

``damex_mmdet/.mim/{configs,tools}`` are symlinks to the top-level folders so
that an editable install resolves ``damex_mmdet::...`` configs (mmengine looks
for them under ``<package>/.mim/configs``) and a built wheel copies them in.
"""
from setuptools import setup

setup()
