"""The bottom layer: what every other layer speaks and none of them owns.

The config file's model, results and the evidence behind them, outcomes in their order, failures with their
reason, the clock, redaction of secrets and data, the words of messages, type families, the distribution.
It imports nothing of demon above it (`lint-imports` checks the layers).
"""
