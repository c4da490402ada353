"""The wire layer: frames, the protocol's notations and result bodies, as bytes.

Nothing here knows what a statement means; ``execution`` decides that and hands back bodies.
"""
