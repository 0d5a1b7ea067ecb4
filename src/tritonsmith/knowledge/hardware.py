"""Hardware profiles: the datasheet figures the evaluator and the agent's prompts rely on.

Figures are vendor datasheet peaks (dense, no sparsity), for one device as PyTorch sees it (an
MI250X shows up as two devices, one per die, so its profile is per die). Bandwidth in GB/s,
compute in TFLOP/s (TOP/s for int8). Pure data and stdlib only: the evaluator's worker imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    vendor: str  # "nvidia" or "amd"
    match: tuple[str, ...]  # lower-case substrings of torch.cuda.get_device_name(); the longest match wins
    compute_units: int  # SMs (NVIDIA) or CUs (AMD)
    warp_size: int  # threads per warp (32) or wavefront (64)
    shared_memory_kb: int  # per SM/CU, usable by one block (NVIDIA shared memory, AMD LDS)
    l2_mb: float  # whole-device L2
    memory_gb: int
    bandwidth_gbps: float  # peak DRAM bandwidth
    tflops: dict[str, float] = field(default_factory=dict)  # by dtype; float32/float64 are the non-matrix units
    notes: str = ""
    arch: str = ""  # e.g. "Hopper sm_90", "CDNA3 gfx942"
    memory_type: str = ""
    last_level_cache_mb: float = 0.0  # AMD Infinity Cache (MALL) behind L2; 0 where there is none
    matrix_cores: str = ""  # what tl.dot maps to, and which dtypes it takes
    hints: tuple[str, ...] = ()  # tuning advice for Triton on this architecture

    def peak_tflops(self, dtype: str) -> float | None:
        return self.tflops.get(dtype)

    def ridge_flop_per_byte(self, dtype: str = "float16") -> float | None:
        """Arithmetic intensity above which a kernel can be compute-bound (roofline ridge point)."""
        peak = self.tflops.get(dtype)
        return peak * 1e3 / self.bandwidth_gbps if peak else None


HOPPER_MMA = ("4th-gen tensor cores via wgmma (asynchronous warpgroup MMA, 4 warps): fp16/bf16/tf32/fp8/int8 "
              "inputs, fp32 accumulation; fp8 e4m3/e5m2 supported.")
HOPPER_HINTS = (
    "num_warps=4 or 8 for matmul tiles (wgmma works on warpgroups of 4 warps); num_stages 3-5 with 128x128x64 "
    "or 128x256x64 fp16 tiles",
    "TMA tensor descriptors (tl.make_tensor_descriptor) cut address math and feed wgmma well",
    "persistent kernels with grid = number of SMs reduce launch and tail effects",
    "227 KB of shared memory per block allows deep software pipelines",
)
AMPERE_MMA = "3rd-gen tensor cores via mma.sync: fp16/bf16/tf32/int8 inputs, fp32 accumulation; no fp8."
AMPERE_HINTS = (
    "num_stages 3-4 (cp.async pipelining); 128x128x32 or 128x256x32 fp16 tiles with num_warps=4 or 8",
    "tf32 is the default tl.dot precision for fp32 inputs; pass input_precision='ieee' when the task needs it",
)
ADA_MMA = "4th-gen tensor cores via mma.sync: fp16/bf16/tf32/fp8/int8 inputs, fp32 accumulation."
ADA_HINTS = (
    "GDDR6: bandwidth is low (864 GB/s) and the L2 is large (96 MB): fusing and reusing data in L2 pays most",
    "only 99 KB of shared memory per block: keep num_stages * tile bytes small (2-3 stages of 128x128x32)",
)
CDNA2_MMA = "MFMA instructions (wavefront-wide): fp16/bf16/fp32/fp64/int8 inputs; no fp8."
CDNA3_MMA = ("MFMA instructions (wavefront-wide, 16x16 or 32x32 tiles): fp16/bf16/tf32/fp8 (e4m3fnuz/e5m2fnuz "
             "on gfx942)/int8 inputs, fp32 accumulation.")
CDNA4_MMA = ("MFMA instructions (wavefront-wide, 16x16 or 32x32 tiles): fp16/bf16/fp8 (OCP e4m3/e5m2)/"
             "fp6/fp4/int8 inputs, fp32 accumulation; MX-scaled fp8/fp6/fp4 through tl.dot_scaled; no tf32.")
AMD_HINTS = (
    "wavefront = 64 threads: num_warps counts wavefronts, so num_warps=4 is 256 threads; 4-8 suits most kernels",
    "num_stages=2 (LDS double-buffering) is usually best; deeper pipelines rarely help",
    "matmul: 256x256x64 or 128x128x64 fp16 tiles, matrix_instr_nonkdim=16, waves_per_eu=2 (or 0 to let the "
    "compiler choose)",
)
XCD_HINT = ("8 XCDs each with their own L2: consecutive program ids go round-robin across XCDs, so remap pids "
            "when neighbouring tiles should share an L2")
CDNA2_HINTS = AMD_HINTS + ("one die has one 8 MB L2 and no Infinity Cache",)
CDNA3_HINTS = AMD_HINTS + (XCD_HINT, "kpack=2 in a matmul config can widen LDS reads on gfx942")
CDNA4_HINTS = AMD_HINTS + (XCD_HINT, "160 KB of LDS per CU allows larger tiles or num_stages=3 where 64 KB did not")


PROFILES = (
    HardwareProfile(
        "NVIDIA H100 SXM", "nvidia", ("h100", "h100 80gb hbm3", "h100 sxm"), 132, 32, 227, 50, 80, 3350,
        {"float16": 989.4, "bfloat16": 989.4, "tf32": 494.7, "float8_e4m3fn": 1978.9, "int8": 1978.9,
         "float32": 66.9, "float64": 33.5},
        "wgmma, TMA, thread block clusters.", arch="Hopper sm_90", memory_type="HBM3",
        matrix_cores=HOPPER_MMA, hints=HOPPER_HINTS),
    HardwareProfile(
        "NVIDIA H100 PCIe", "nvidia", ("h100 pcie",), 114, 32, 227, 50, 80, 2000,
        {"float16": 756.5, "bfloat16": 756.5, "tf32": 378, "float8_e4m3fn": 1513, "int8": 1513,
         "float32": 51.2, "float64": 25.6},
        "PCIe card.", arch="Hopper sm_90", memory_type="HBM2e",
        matrix_cores=HOPPER_MMA, hints=HOPPER_HINTS),
    HardwareProfile(
        "NVIDIA H100 NVL", "nvidia", ("h100 nvl",), 132, 32, 227, 50, 94, 3900,
        {"float16": 835.5, "bfloat16": 835.5, "tf32": 417.5, "float8_e4m3fn": 1670.5, "int8": 1670.5,
         "float32": 60, "float64": 30},
        "PCIe card, lower clocks than SXM.", arch="Hopper sm_90", memory_type="HBM3",
        matrix_cores=HOPPER_MMA, hints=HOPPER_HINTS),
    # H200 L2: 60 MB is what the driver reports on an H200 (cudaDevAttrL2CacheSize); H100 reports 50
    HardwareProfile(
        "NVIDIA H200", "nvidia", ("h200",), 132, 32, 227, 60, 141, 4800,
        {"float16": 989.4, "bfloat16": 989.4, "tf32": 494.7, "float8_e4m3fn": 1978.9, "int8": 1978.9,
         "float32": 66.9, "float64": 33.5},
        "The H100 SXM's compute with 43% more bandwidth (HBM3e).", arch="Hopper sm_90",
        memory_type="HBM3e", matrix_cores=HOPPER_MMA, hints=HOPPER_HINTS),
    HardwareProfile(
        "NVIDIA H200 NVL", "nvidia", ("h200 nvl",), 132, 32, 227, 60, 141, 4800,
        {"float16": 835.5, "bfloat16": 835.5, "tf32": 417.5, "float8_e4m3fn": 1670.5, "int8": 1670.5,
         "float32": 60, "float64": 30},
        "PCIe card with HBM3e.", arch="Hopper sm_90", memory_type="HBM3e",
        matrix_cores=HOPPER_MMA, hints=HOPPER_HINTS),
    HardwareProfile(
        "NVIDIA A100 SXM4 80GB", "nvidia", ("a100", "a100-sxm4-80gb", "a100 80gb"), 108, 32, 163, 40, 80, 2039,
        {"float16": 312, "bfloat16": 312, "tf32": 156, "int8": 624, "float32": 19.5, "float64": 9.7},
        "cp.async; no fp8.", arch="Ampere sm_80", memory_type="HBM2e",
        matrix_cores=AMPERE_MMA, hints=AMPERE_HINTS),
    HardwareProfile(
        "NVIDIA A100 80GB PCIe", "nvidia", ("a100 80gb pcie",), 108, 32, 163, 40, 80, 1935,
        {"float16": 312, "bfloat16": 312, "tf32": 156, "int8": 624, "float32": 19.5, "float64": 9.7},
        "PCIe card.", arch="Ampere sm_80", memory_type="HBM2e",
        matrix_cores=AMPERE_MMA, hints=AMPERE_HINTS),
    HardwareProfile(
        "NVIDIA A100 40GB", "nvidia", ("a100-sxm4-40gb", "a100-pcie-40gb", "a100 40gb"), 108, 32, 163, 40, 40,
        1555, {"float16": 312, "bfloat16": 312, "tf32": 156, "int8": 624, "float32": 19.5, "float64": 9.7},
        "HBM2: less bandwidth than the 80 GB models.", arch="Ampere sm_80", memory_type="HBM2",
        matrix_cores=AMPERE_MMA, hints=AMPERE_HINTS),
    HardwareProfile(
        "NVIDIA L40S", "nvidia", ("l40s",), 142, 32, 99, 96, 48, 864,
        {"float16": 362.05, "bfloat16": 362.05, "tf32": 183, "float8_e4m3fn": 733, "int8": 733,
         "float32": 91.6},
        "GDDR6, low bandwidth, large L2; fp64 is 1/64 rate.", arch="Ada sm_89", memory_type="GDDR6",
        matrix_cores=ADA_MMA, hints=ADA_HINTS),
    HardwareProfile(
        "AMD Instinct MI300X", "amd", ("mi300x", "gfx942"), 304, 64, 64, 32, 192, 5300,
        {"float16": 1307.4, "bfloat16": 1307.4, "tf32": 653.7, "float8_e4m3fn": 2614.9, "int8": 2614.9,
         "float32": 163.4, "float64": 81.7},
        "8 XCDs of 38 CUs, 4 MB L2 per XCD, 256 MB Infinity Cache.", arch="CDNA3 gfx942",
        memory_type="HBM3", last_level_cache_mb=256, matrix_cores=CDNA3_MMA, hints=CDNA3_HINTS),
    HardwareProfile(
        "AMD Instinct MI325X", "amd", ("mi325x",), 304, 64, 64, 32, 256, 6000,
        {"float16": 1307.4, "bfloat16": 1307.4, "tf32": 653.7, "float8_e4m3fn": 2614.9, "int8": 2614.9,
         "float32": 163.4, "float64": 81.7},
        "The MI300X's compute with more memory and bandwidth (HBM3e).", arch="CDNA3 gfx942",
        memory_type="HBM3e", last_level_cache_mb=256, matrix_cores=CDNA3_MMA, hints=CDNA3_HINTS),
    HardwareProfile(
        "AMD Instinct MI250X (one die)", "amd", ("mi250x", "gfx90a"), 110, 64, 64, 8, 64, 1638.4,
        {"float16": 191.5, "bfloat16": 191.5, "int8": 191.5, "float32": 23.95, "float32_matrix": 47.9,
         "float64": 23.95},
        "Each MI250X is two dies that PyTorch sees as two devices; figures are per die "
        "(the card has 220 CUs, 128 GB, 3.2 TB/s). No fp8.", arch="CDNA2 gfx90a", memory_type="HBM2e",
        matrix_cores=CDNA2_MMA, hints=CDNA2_HINTS),
    HardwareProfile(
        "AMD Instinct MI250 (one die)", "amd", ("mi250",), 104, 64, 64, 8, 64, 1638.4,
        {"float16": 181.05, "bfloat16": 181.05, "int8": 181.05, "float32": 22.65, "float32_matrix": 45.25,
         "float64": 22.65},
        "Two dies per card that PyTorch sees as two devices; figures are per die. No fp8.", arch="CDNA2 gfx90a", memory_type="HBM2e",
        matrix_cores=CDNA2_MMA, hints=CDNA2_HINTS),
    HardwareProfile(
        "AMD Instinct MI355X", "amd", ("mi355x", "gfx950"), 256, 64, 160, 32, 288, 8000,
        {"float16": 2516.6, "bfloat16": 2516.6, "float8_e4m3fn": 5033.2, "int8": 5033.2, "float32": 157.3,
         "float64": 78.6},
        "8 XCDs of 32 CUs, 160 KB LDS, 256 MB Infinity Cache, fp6/fp4 matrix support.",
        arch="CDNA4 gfx950", memory_type="HBM3e", last_level_cache_mb=256, matrix_cores=CDNA4_MMA,
        hints=CDNA4_HINTS),
    HardwareProfile(
        "AMD Instinct MI350X", "amd", ("mi350x", "mi350"), 256, 64, 160, 32, 288, 8000,
        {"float16": 2306.9, "bfloat16": 2306.9, "float8_e4m3fn": 4613.7, "int8": 4613.7, "float32": 144.2,
         "float64": 72.1},
        "The MI355X's chip at lower clocks.", arch="CDNA4 gfx950", memory_type="HBM3e",
        last_level_cache_mb=256, matrix_cores=CDNA4_MMA, hints=CDNA4_HINTS),
)


def profile_for(device_name: str | None) -> HardwareProfile | None:
    """The profile whose longest match key occurs in the device name (e.g. torch.cuda.get_device_name())."""
    if not device_name:
        return None
    lowered = device_name.lower()
    best, best_len = None, 0
    for profile in PROFILES:
        for key in profile.match:
            if key in lowered and len(key) > best_len:
                best, best_len = profile, len(key)
    return best


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:g}"


_DTYPE_LABELS = {"float16": "fp16", "bfloat16": "bf16", "tf32": "tf32", "float8_e4m3fn": "fp8",
                 "int8": "int8 (TOP/s)", "float32": "fp32 (vector)", "float32_matrix": "fp32 (matrix)",
                 "float64": "fp64 (vector)"}


def describe(profile: HardwareProfile) -> str:
    """A compact block for a prompt: the numbers a kernel writer needs, and tuning hints."""
    amd = profile.vendor == "amd"
    unit, lane, smem = ("CUs", "wavefront", "LDS") if amd else ("SMs", "warp", "shared memory")
    caches = f"L2 {_fmt(profile.l2_mb)} MB"
    if profile.last_level_cache_mb:
        caches += f", Infinity Cache {_fmt(profile.last_level_cache_mb)} MB"
    memory = f"{profile.memory_gb} GB {profile.memory_type}".rstrip()
    lines = [
        f"Target GPU: {profile.name} ({profile.arch or profile.vendor})",
        f"- {profile.compute_units} {unit}; {lane} = {profile.warp_size} threads; {smem} {profile.shared_memory_kb} KB "
        f"per block; {caches}; {memory} at {_fmt(profile.bandwidth_gbps)} GB/s",
    ]
    peaks = ", ".join(f"{_DTYPE_LABELS.get(dtype, dtype)} {_fmt(value)}" for dtype, value in profile.tflops.items())
    lines.append(f"- Peak dense TFLOP/s: {peaks}")
    ridge = profile.ridge_flop_per_byte("float16")
    ridge32 = profile.ridge_flop_per_byte("float32")
    if ridge and ridge32:
        lines.append(f"- Roofline ridge: {ridge:.0f} FLOP/byte for fp16 matrix math, {ridge32:.0f} for fp32 vector "
                     "math; below it a kernel is memory-bound, so judge it by GB/s against the bandwidth above")
    if profile.matrix_cores:
        lines.append(f"- Matrix cores: {profile.matrix_cores}")
    if profile.notes:
        lines.append(f"- Notes: {profile.notes}")
    lines.extend(f"- Hint: {hint}" for hint in profile.hints)
    return "\n".join(lines)
