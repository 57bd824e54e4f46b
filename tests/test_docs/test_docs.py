"""README.md and docs/: every relative link and image resolves, the results table is the data's."""
import glob
import os.path as osp
import re

import pytest

from damex_mmdet.evaluation.results_summary import summary_table

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAGES = [osp.join(REPO, 'README.md')] + sorted(
    glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True))
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')


def _slug(heading):
    """GitHub's anchor of a markdown heading."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def _anchors(path):
    with open(path) as f:
        text = re.sub(r'```.*?```', '', f.read(), flags=re.S)  # no headings inside code
    return {_slug(line.lstrip('#')) for line in text.splitlines() if re.match(r'#{1,6} ', line)}


@pytest.mark.parametrize('page', PAGES, ids=lambda p: osp.relpath(p, REPO))
def test_relative_links_and_images_resolve(page):
    with open(page) as f:
        text = re.sub(r'```.*?```', '', f.read(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+:', target):
            continue  # web links are not checked offline
        path, _, anchor = target.partition('#')
        resolved = osp.normpath(osp.join(osp.dirname(page), path)) if path else page
        if not osp.exists(resolved):
            broken.append(f'{target} (no file {osp.relpath(resolved, REPO)})')
        elif anchor and resolved.endswith('.md') and anchor not in _anchors(resolved):
            broken.append(f'{target} (no heading #{anchor})')
    assert not broken, f'{osp.relpath(page, REPO)}: ' + '; '.join(broken)


def test_readme_results_table_is_what_the_committed_results_give():
    with open(osp.join(REPO, 'README.md')) as f:
        text = f.read()
    block = text.split('<!-- results-summary:start -->\n', 1)[1].split(
        '<!-- results-summary:end -->', 1)[0]
    assert block == summary_table(osp.join(REPO, 'docs', 'results'))


def test_readme_opens_with_the_two_commands_and_stays_short():
    with open(osp.join(REPO, 'README.md')) as f:
        lines = f.read().splitlines()
    assert lines[2:6] == [
        '```bash',
        'bash tools/run_main.sh      # main job: train + evaluate a small DAMEX detector on the '
        'built-in benchmark',
        'bash tools/run_tests.sh     # the fast test tier; `bash tools/run_tests.sh --all` runs '
        'every test (CI)',
        '```',
    ]
    assert len(lines) <= 250


def test_every_experiment_has_a_results_page():
    for results in glob.glob(osp.join(REPO, 'docs', 'results', '*', 'results.json')):
        assert osp.exists(osp.join(osp.dirname(results), 'README.md')), results
