"""Execution algorithms worked as parent orders with child orders (issue 15).

:mod:`.base` (the parent's state, the schedule protocol), :mod:`.twap`, :mod:`.vwap`, :mod:`.pov`,
:mod:`.volume_curve` (the NSE intraday volume curve VWAP uses). The engine that sends the
children through the OMS and gate is :mod:`tradekit.execution.slicing`.
"""
