"""Hardware profiles: the datasheet figures the evaluator and the agent's prompts rely on.

Figures are vendor datasheet peaks (dense, no sparsity). Bandwidth in GB/s, compute in TFLOP/s.
Pure data: importable in the evaluator's worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    vendor: str
    match: tuple[str, ...]  # lower-case substrings of torch.cuda.get_device_name()
    compute_units: int
    warp_size: int
    shared_memory_kb: int  # per SM/CU, usable by one block
    l2_mb: float
    memory_gb: int
    bandwidth_gbps: float
    tflops: dict[str, float] = field(default_factory=dict)  # by dtype; fp32 is non-tensor-core
    notes: str = ""

    def peak_tflops(self, dtype: str) -> float | None:
        return self.tflops.get(dtype)


PROFILES = (
    HardwareProfile("NVIDIA H100 SXM", "nvidia", ("h100 80gb hbm3", "h100 sxm"), 132, 32, 227, 50, 80, 3350,
                    {"float16": 989.4, "bfloat16": 989.4, "float32": 66.9, "tf32": 494.7, "float8_e4m3fn": 1978.9,
                     "int8": 1978.9}, "Hopper sm_90: wgmma, TMA, 4th-gen tensor cores, thread block clusters."),
    HardwareProfile("NVIDIA H100 PCIe", "nvidia", ("h100 pcie",), 114, 32, 227, 50, 80, 2000,
                    {"float16": 756.5, "bfloat16": 756.5, "float32": 51.2, "tf32": 378, "float8_e4m3fn": 1513,
                     "int8": 1513}, "Hopper sm_90."),
    HardwareProfile("NVIDIA H200", "nvidia", ("h200",), 132, 32, 227, 50, 141, 4800,
                    {"float16": 989.4, "bfloat16": 989.4, "float32": 66.9, "tf32": 494.7, "float8_e4m3fn": 1978.9,
                     "int8": 1978.9}, "Hopper sm_90 with HBM3e."),
    HardwareProfile("NVIDIA A100", "nvidia", ("a100",), 108, 32, 163, 40, 80, 2039,
                    {"float16": 312, "bfloat16": 312, "float32": 19.5, "tf32": 156, "int8": 624},
                    "Ampere sm_80: mma.sync tensor cores, cp.async; no fp8."),
    HardwareProfile("NVIDIA L40S", "nvidia", ("l40s",), 142, 32, 99, 96, 48, 864,
                    {"float16": 362, "bfloat16": 362, "float32": 91.6, "tf32": 183, "float8_e4m3fn": 733,
                     "int8": 733}, "Ada sm_89: GDDR6, low bandwidth, large L2."),
    HardwareProfile("AMD Instinct MI300X", "amd", ("mi300x",), 304, 64, 64, 256, 192, 5300,
                    {"float16": 1307.4, "bfloat16": 1307.4, "float32": 163.4, "float8_e4m3fn": 2614.9,
                     "int8": 2614.9}, "CDNA3 gfx942: 64-wide wavefronts, MFMA, 8 XCDs; l2_mb is Infinity Cache."),
    HardwareProfile("AMD Instinct MI325X", "amd", ("mi325x",), 304, 64, 64, 256, 256, 6000,
                    {"float16": 1307.4, "bfloat16": 1307.4, "float32": 163.4, "float8_e4m3fn": 2614.9,
                     "int8": 2614.9}, "CDNA3 gfx942 with HBM3e."),
    HardwareProfile("AMD Instinct MI250X", "amd", ("mi250x", "mi250"), 220, 64, 64, 16, 128, 3277,
                    {"float16": 383, "bfloat16": 383, "float32": 95.7, "int8": 383},
                    "CDNA2 gfx90a: two dies; no fp8."),
    HardwareProfile("AMD Instinct MI355X", "amd", ("mi355x", "mi350"), 256, 64, 160, 256, 288, 8000,
                    {"float16": 2516.6, "bfloat16": 2516.6, "float32": 157.3, "float8_e4m3fn": 5033.2,
                     "int8": 5033.2}, "CDNA4 gfx950: 160 KB LDS, fp6/fp4 support."),
)


def profile_for(device_name: str | None) -> HardwareProfile | None:
    if not device_name:
        return None
    lowered = device_name.lower()
    for profile in PROFILES:
        if any(key in lowered for key in profile.match):
            return profile
    if "h100" in lowered:
        return PROFILES[0]
    return None
