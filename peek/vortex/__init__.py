"""The vortex: how tuples, observables, actions and calls travel between
services and devices (see docs/protocol.md)."""
