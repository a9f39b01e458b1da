"""Benchmarks (not tests): speed, fidelity and memory of the engine on this machine. Run `make bench`."""
