"""The benchmark's fraction of peak: the peak is measured (the CPU's widest
fused multiply-add, here), and an achieved rate above it is refused, so no
fraction above 100% is ever printed."""

import importlib.util
import shutil

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("benchmark", REPO / "benchmarks" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def test_a_rate_above_the_peak_is_refused():
    assert benchmark.fraction_of_peak(50e9, 1.0, 100e9) == 0.5
    assert benchmark.fraction_of_peak(100e9, 1.0, 100e9) == 1.0
    with pytest.raises(ValueError, match="above the measured peak"):
        benchmark.fraction_of_peak(101e9, 1.0, 100e9)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_the_fma_microbenchmark_measures_the_widest_vectors():
    rate, bits = benchmark.fma_peak(cores=1, iterations=2_000_000)
    flags = open("/proc/cpuinfo").read()
    assert bits == (512 if " avx512f" in flags else 256)
    # At least one FMA vector per nanosecond (a 1 GHz core), at most 4 per cycle at 6 GHz.
    assert bits / 16 * 1e9 <= rate <= bits / 16 * 4 * 6e9


def test_the_work_of_an_epoch_follows_the_configured_network():
    config = {"train": {"hidden_units": [512, 512], "validation_split": 0.1}}
    # 669,706 parameters; 54,000 training and 6,000 validation images.
    assert benchmark.flops_per_epoch(config) == (6 * 669_706 - 2 * 784 * 512) * 54_000 + 2 * 669_706 * 6_000
    config["train"]["hidden_units"] = [32]
    assert benchmark.flops_per_epoch(config) == (6 * 25_450 - 2 * 784 * 32) * 54_000 + 2 * 25_450 * 6_000
