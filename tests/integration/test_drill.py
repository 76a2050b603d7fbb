"""The short crash drill (CI's `make drill`): 30 kill -9s of a live session on the Kite sandbox under
a fault storm, then nothing lost, duplicated, stranded or mismatched."""

from __future__ import annotations

import pytest

from tradekit.drill.run import Drill

pytestmark = pytest.mark.slow


def test_the_short_drill_loses_duplicates_strands_and_mismatches_nothing(tmp_path):
    fig = Drill(30, seed=13, workdir=tmp_path, settle_timeout=45.0).run()
    print(fig.table())
    assert fig.kills >= 30
    assert fig.accepted > 0 and fig.orders_placed > 0 and fig.faults_fired > 0
    assert (fig.lost, fig.duplicated, fig.stranded, fig.mismatched) == (0, 0, 0, 0), fig.details


def test_the_drill_needs_room_for_its_faults():
    with pytest.raises(ValueError, match="at least 10"):
        Drill(3)
