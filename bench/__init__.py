"""Benchmarks for cassandra-asgi: ``python -m bench`` (full) or ``python -m bench --quick``.

Every contender is measured in the same run, interleaved round by round, against the same
server, because on a small shared machine only ratios taken side by side mean anything.
"""
