"""The devices a run can use.

    devices.py  --gpus parsing (CUDA indices, cpu:N, sim:S1,...) and the capability weight table
    nvml.py     NVML readings for CUDA devices (None when unavailable)

May import: ``errors``, ``control.snapshot`` (device labels) and the standard library.
"""
