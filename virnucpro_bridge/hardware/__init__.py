"""The devices a run can use.

    devices.py      --gpus parsing (CUDA indices, cpu:N, sim:S1,...) and the capability weight table
    discovery.py    this process's CUDA devices: from NVML, else torch's list (and which it was)
    nvml.py         CUDA_VISIBLE_DEVICES over what NVML opens (Slurm, cgroups, MIG); readings (or None)
    memory_wait.py  a restarted worker waits for its GPU's memory to be released (NVML, bounded)
    binding.py      a GPU worker sees only its own device: CUDA_VISIBLE_DEVICES=<UUID>, cuda:0
    cpus.py         each worker's share of the CPUs this process may use (its affinity)
    faults.py       which exceptions are a device's fault (CUDA errors), not a unit's
    energy.py       joules a GPU used while its worker ran (NVML's counter, else power integrated)
    slurm.py        the Slurm job the run is (id, GPUs, KillWait for --grace; ``scontrol``, bounded),
                    and whether Slurm's stop signal can reach lbtui

May import: ``errors``, ``control.snapshot`` (device labels) and the standard library;
``discovery`` imports torch only as a fallback, and only when a driver is present.
"""
