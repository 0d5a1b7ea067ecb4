"""Hardware profiles: chosen by the device name PyTorch reports; describe() carries the key numbers."""

from __future__ import annotations

import pytest

from tritonsmith.knowledge.hardware import PROFILES, describe, profile_for


@pytest.mark.parametrize("device_name, expected", [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"),
    ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
    ("NVIDIA H100 NVL", "NVIDIA H100 NVL"),
    ("NVIDIA H200", "NVIDIA H200"),
    ("NVIDIA H200 NVL", "NVIDIA H200 NVL"),
    ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM4 80GB"),
    ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 40GB"),
    ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe"),
    ("NVIDIA L40S", "NVIDIA L40S"),
    ("AMD Instinct MI300X", "AMD Instinct MI300X"),
    ("AMD Instinct MI300X VF", "AMD Instinct MI300X"),
    ("AMD Instinct MI325X", "AMD Instinct MI325X"),
    ("AMD Instinct MI250X/MI250", "AMD Instinct MI250X (one die)"),
    ("AMD Instinct MI355X", "AMD Instinct MI355X"),
    ("gfx942:sramecc+:xnack-", "AMD Instinct MI300X"),
])
def test_profile_for_picks_the_most_specific_match(device_name, expected):
    assert profile_for(device_name).name == expected


@pytest.mark.parametrize("device_name", [None, "", "cpu", "NVIDIA GeForce GTX 1080"])
def test_unknown_devices_have_no_profile(device_name):
    assert profile_for(device_name) is None


def test_profiles_are_consistent():
    for profile in PROFILES:
        assert profile.vendor in ("nvidia", "amd")
        assert profile.warp_size == (64 if profile.vendor == "amd" else 32)
        assert profile.bandwidth_gbps > 0 and profile.compute_units > 0
        assert profile.peak_tflops("float16") == profile.peak_tflops("bfloat16") > profile.peak_tflops("float32")
        assert profile.arch and profile.matrix_cores and profile.hints


def test_figures_per_device_as_pytorch_sees_it():
    h100, mi300x, mi250x = (profile_for(n) for n in ("H100 SXM", "MI300X", "MI250X"))
    assert (h100.compute_units, h100.bandwidth_gbps, h100.peak_tflops("bfloat16")) == (132, 3350, 989.4)
    assert (mi300x.compute_units, mi300x.shared_memory_kb, mi300x.l2_mb, mi300x.last_level_cache_mb) == (304, 64, 32, 256)
    assert mi250x.compute_units == 110 and mi250x.memory_gb == 64  # one of the card's two dies
    assert profile_for("MI355X").shared_memory_kb == 160


def test_describe_h100_mentions_the_key_numbers():
    text = describe(profile_for("NVIDIA H100 80GB HBM3"))
    for fact in ("132 SMs", "warp = 32", "227 KB", "L2 50 MB", "3,350 GB/s", "bf16 989", "fp8 1,979", "sm_90",
                 "wgmma", "Hint:"):
        assert fact in text, fact
    assert "295 FLOP/byte" in text  # 989.4 TFLOP/s over 3.35 TB/s
    assert len(text) < 1500


def test_describe_mi300x_speaks_amd():
    text = describe(profile_for("AMD Instinct MI300X"))
    for fact in ("304 CUs", "wavefront = 64", "LDS 64 KB", "Infinity Cache 256 MB", "5,300 GB/s", "fp16 1,307",
                 "MFMA", "waves_per_eu", "gfx942"):
        assert fact in text, fact
    assert "SMs" not in text and "shared memory" not in text
