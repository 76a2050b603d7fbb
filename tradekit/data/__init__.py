"""Market data: bars and ticks from files, resampling, quality checks, feeds."""

from tradekit.data.bars import load_bars, sample_path, sample_symbols

__all__ = ["load_bars", "sample_path", "sample_symbols"]
