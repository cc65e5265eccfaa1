"""A GPU's energy while a worker ran: NVML's counter when the GPU has one, else the
power readings integrated between reports."""

from __future__ import annotations

from virnucpro_bridge.hardware.energy import EnergyMeter


class Sampler:
    """NvmlSampler's energy_mj(): the counter values to return, in order (None: no counter)."""

    def __init__(self, *values: int | None) -> None:
        self.values = list(values)

    def energy_mj(self) -> int | None:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_the_counter_gives_joules_since_the_meter_started():
    meter = EnergyMeter(Sampler(5_000_000, 5_360_000, None, 12_200_000))
    assert meter.source == "counter"
    assert meter.read(watts=999.0, now=1.0) == 360.0  # the counter, not the power reading
    assert meter.read(watts=None, now=2.0) == 360.0  # a failed query keeps the last value
    assert meter.read(watts=None, now=3.0) == 7200.0  # 2 Wh


def test_without_a_counter_power_is_integrated_between_reports():
    meter = EnergyMeter(Sampler(None))
    assert meter.source == "power"
    assert meter.read(watts=None, now=0.0) is None  # nothing known yet
    assert meter.read(watts=100.0, now=10.0) == 0.0
    assert meter.read(watts=300.0, now=12.0) == 400.0  # 2 s at a mean of 200 W
    assert meter.read(watts=None, now=13.0) == 400.0  # a missing reading adds nothing
    assert meter.read(watts=300.0, now=14.0) == 1000.0  # 2 s at 300 W since the last reading
