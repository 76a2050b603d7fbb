"""Market data: bars and ticks from files, resampling, quality checks, feeds."""

from tradekit.data.bars import load_bars, sample_path, sample_symbols
from tradekit.data.feeds import BarArrays, BarReplayFeed, DataSet, TickReplayFeed, load_dataset, sessions_in
from tradekit.data.quality import check_bars, check_ticks, summarize
from tradekit.data.resample import infer_interval, parse_rule, resample_bars, ticks_to_bars
from tradekit.data.ticks import load_ticks
from tradekit.data.types import Bar, DepthLevel, Feed, Tick

__all__ = [
    "Bar", "BarArrays", "BarReplayFeed", "DataSet", "DepthLevel", "Feed", "Tick", "TickReplayFeed",
    "check_bars", "check_ticks", "infer_interval", "load_bars", "load_dataset", "load_ticks", "parse_rule",
    "resample_bars", "sample_path", "sample_symbols", "sessions_in", "summarize", "ticks_to_bars",
]
