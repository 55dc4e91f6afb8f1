"""Explaining data larger than one machine's memory, partition by partition, on Dask, Spark or Ray.

``explain_partition`` is the one step every engine runs on its workers; ``PortableExplainer`` is how
an explainer travels to them. Neither imports an engine.
"""

from __future__ import annotations

from shapwise.scale.partition import Layout, explain_block, explain_partition
from shapwise.scale.portable import PortableExplainer

__all__ = ["Layout", "PortableExplainer", "explain_block", "explain_partition"]
