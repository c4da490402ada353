"""Nodes: a server that accepts connections, dispatches requests and injects faults."""
