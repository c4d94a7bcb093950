"""Dask: the embedded LocalCluster or an external scheduler, and ``peek worker``."""
