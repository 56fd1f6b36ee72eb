"""Learned baselines at the command line: `demon backtest` and `demon feedback`."""
