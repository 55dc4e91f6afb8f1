"""The progress bar: a real tqdm bar unless silent."""

from __future__ import annotations

from tqdm.auto import tqdm

from shapwise._progress import progress


def test_silent_runs_get_no_bar_and_others_a_delayed_one():
    with progress(3, "rows", silent=True) as bar:
        bar.update(2)
    assert not isinstance(bar, tqdm)
    loud = progress(3, "rows", silent=False, delay=60.0)
    assert isinstance(loud, tqdm) and loud.total == 3
    loud.update(3)
    assert loud.n == 3
    loud.close()
