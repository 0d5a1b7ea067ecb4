"""Confinement of the candidate's process with what Linux gives an unprivileged process (no torch here).

- processes: a PID namespace (unshare), so that everything the candidate starts dies with it and it cannot
  see or signal the evaluator; without one, the host's subreaper kills what it finds after the job;
- network: a network namespace with no interface up; without one, Landlock's TCP rules (ABI 4);
- filesystem: Landlock (ABI 1+; kernel 5.13) lets the candidate write only its job folder (its own Triton and
  CUDA caches are there: evaluate/triton_cache.py) and the device files CUDA needs; a mount namespace gives it a private /proc, /dev/shm and hides the pool's
  other files; without Landlock, a mount namespace makes every other mount read-only;
- memory: the candidate's process holds no capability and no_new_privs, and the evaluator's processes are
  not dumpable, so it cannot ptrace them or read their /proc/PID/mem.
Each is detected once per host (`detect`), and what was in force is said in every result's evidence.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import os
from typing import Any

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
PR_SET_SECUREBITS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 28, 47, 4
SECURE_NOROOT_ALL = 0x3 | 0xC | 0x30  # noroot, no setuid fixup, keep caps off: each with its lock bit
SYS_LANDLOCK = {"create_ruleset": 444, "add_rule": 445, "restrict_self": 446}  # the same on every architecture
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_CREATE_RULESET_VERSION = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
SHM_SIZE = "256m"
DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/nvidia*",
                "/dev/nvidia-caps", "/dev/nvidia-uvm*", "/dev/dri", "/dev/kfd")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _call(function: Any, *args: Any) -> int:
    result = function(*args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def prctl(option: int, arg: int = 0) -> None:
    _call(_libc.prctl, option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def landlock_abi() -> int:
    """Landlock's ABI version here, or 0 where the kernel (or gVisor) has none."""
    try:
        return max(0, _libc.syscall(SYS_LANDLOCK["create_ruleset"], None, ctypes.c_size_t(0),
                                    ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION)))
    except (OSError, AttributeError):
        return 0


def not_dumpable() -> None:
    """No process of the same user without CAP_SYS_PTRACE may ptrace us or read our memory (/proc/PID/mem)."""
    try:
        prctl(PR_SET_DUMPABLE, 0)
    except OSError:
        pass


def die_with_parent(signal_number: int = 9) -> None:
    try:
        prctl(PR_SET_PDEATHSIG, signal_number)
    except OSError:
        pass


def namespace_choices() -> list[int]:
    """The namespaces a job is put in, best first: PID, mount and network; else PID and mount (a user namespace
    too where we are not root, which owns the others)."""
    user = 0 if os.geteuid() == 0 else CLONE_NEWUSER
    return [CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | user, CLONE_NEWPID | CLONE_NEWNS | user]


def enter_namespaces(flags: int) -> str | None:
    """In the job's reaper, before it forks the candidate's process: unshare `flags` (the next child is PID 1 of
    its own PID namespace). None if done, else why not."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        _call(_libc.unshare, flags)
    except OSError as exc:
        return f"unshare: {exc.strerror}"
    if flags & CLONE_NEWUSER:  # map ourselves to root of the new user namespace
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as handle:
                    handle.write(text)
        except OSError as exc:
            return f"user namespace map: {exc.strerror}"
    return None


def detect() -> dict[str, Any]:
    """What this machine allows, probed in throwaway children: Landlock's ABI, and which namespaces."""
    errors = []
    choices = namespace_choices() if os.environ.get("TRITONSMITH_NAMESPACES", "1") != "0" else []
    if not choices:
        errors.append("turned off (TRITONSMITH_NAMESPACES=0)")
    for flags in choices:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                os.write(write_end, (enter_namespaces(flags) or "").encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as handle:
            error = handle.read().decode()
        os.waitpid(pid, 0)
        if not error:
            break
        errors.append(error)
    else:
        flags = 0
    return {"landlock_abi": landlock_abi(), "namespaces": bool(flags), "namespace_flags": flags,
            "network_namespace": bool(flags & CLONE_NEWNET), "namespaces_error": "; ".join(errors) or None,
            "root": os.geteuid() == 0}


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    _call(_libc.mount, source and source.encode(), target.encode(), kind and kind.encode(), ctypes.c_ulong(flags),
          data and data.encode())


def private_proc() -> list[str]:
    """First thing in the candidate's process (PID 1 of its namespaces): its mounts made private, and a /proc of
    its own PID namespace. Before CUDA starts: the driver fails (error 304, "OS call failed") in a PID namespace
    whose /proc is still the parent's. Returns what was done; raises OSError if the mounts cannot be private."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return ["private /proc"]
    except OSError as exc:  # CUDA may then fail to start (error 304): said, so that its failure can be read
        return [f"no private /proc ({exc.strerror}): the parent's is visible"]


def private_mounts(job_dir: str, hidden_dir: str, writable: list[str], read_only_rest: bool) -> list[str]:
    """In the candidate's process, after `private_proc`: a private size-limited /dev/shm, `hidden_dir` (the pool's
    folder: other jobs, the keeper's socket, the locks) covered but for `job_dir`; with `read_only_rest`, every
    other mount read-only but `writable`. Returns what was done."""
    done = []
    try:
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SHM_SIZE},mode=1777")
        done.append(f"private /dev/shm ({SHM_SIZE}, gone with the job)")
    except OSError:
        pass
    job_fd = os.open(job_dir, os.O_PATH | os.O_DIRECTORY)
    try:
        _mount("tmpfs", hidden_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        os.makedirs(job_dir, exist_ok=True)
        _mount(f"/proc/self/fd/{job_fd}", job_dir, None, MS_BIND | MS_REC)
        done.append("the pool's other files hidden")
    except OSError:
        pass
    finally:
        os.close(job_fd)
    if read_only_rest:
        keep = [os.path.realpath(p) for p in writable + [job_dir, "/dev/shm", "/proc", "/dev"] if os.path.exists(p)]
        for path in writable:
            if os.path.isdir(path):
                _mount(path, path, None, MS_BIND | MS_REC)
        failed = []
        for point in sorted(_mount_points(), key=len):
            if any(point == k or point.startswith(k.rstrip("/") + "/") for k in keep):
                continue
            try:
                _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            except OSError as exc:
                failed.append(f"{point}: {exc.strerror}")
        done.append("every other mount read-only" + (f" (but {', '.join(failed)})" if failed else ""))
    return done


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4].replace("\\040", " ") for line in handle if len(line.split()) > 4]


def landlock(abi: int, writable: list[str], no_tcp: bool) -> str:
    """Restrict this process and its future children: read and execute everywhere, write only `writable` and
    the device files; no TCP where `no_tcp` (ABI 4); no signals or abstract sockets outside (ABI 6)."""
    handled = FS_ALL_BY_ABI[min(abi, 5)]
    attr = _RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP) if no_tcp and abi >= 4 else 0,
                        (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _call(_libc.syscall, SYS_LANDLOCK["create_ruleset"], ctypes.byref(attr), ctypes.c_size_t(size),
                    ctypes.c_uint32(0))
    try:
        def allow(path: str, access: int) -> None:
            flags = os.O_PATH | os.O_CLOEXEC
            fd = os.open(path, flags)
            try:
                if not os.path.isdir(path):  # a file takes only the rights that apply to files
                    access &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
                rule = _PathBeneath(access & handled, fd)
                _call(_libc.syscall, SYS_LANDLOCK["add_rule"], ruleset, LANDLOCK_RULE_PATH_BENEATH,
                      ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(fd)
        allow("/", FS_EXECUTE | FS_READ_FILE | FS_READ_DIR)
        for path in writable:
            if os.path.exists(path):
                allow(path, handled)
        for pattern in DEVICE_FILES:
            for path in glob.glob(pattern):
                allow(path, FS_READ_FILE | FS_WRITE_FILE | FS_READ_DIR | FS_IOCTL_DEV)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        _call(_libc.syscall, SYS_LANDLOCK["restrict_self"], ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    scoped = ", no signals or abstract sockets outside" if abi >= 6 else ""
    return f"Landlock ABI {abi}: writes only to {', '.join(writable)} and device files{scoped}"


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges() -> str:
    """No capability left, none regained by exec (securebits, bounding set), no_new_privs."""
    steps = []
    try:
        prctl(PR_SET_SECUREBITS, SECURE_NOROOT_ALL)
    except OSError:
        pass
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    for cap in range(64):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                break
    data = (_CapData * 2)()
    try:
        _call(_libc.capset, ctypes.byref(_CapHeader(0x20080522, 0)), data)
        steps.append("no capabilities")
    except OSError:
        steps.append("capabilities not dropped")
    try:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        steps.append("no_new_privs")
    except OSError:
        pass
    return ", ".join(steps)


def writable_paths(job_dir: str) -> list[str]:
    """What a candidate may write: its job folder (which holds its own Triton and CUDA caches,
    evaluate/triton_cache.py), and what a test names."""
    # set by whoever starts the pool (a test's marker folder), never by a candidate: it is read before candidate code
    paths = [job_dir] + [p for p in os.environ.get("TRITONSMITH_SANDBOX_WRITABLE", "").split(os.pathsep) if p]
    return [p for p in paths if os.path.isdir(p)]


def confine_candidate(job_dir: str, sandbox: dict[str, Any], namespace_error: str | None,
                      mounts: list[str] | None = None, mount_error: str | None = None) -> dict[str, str]:
    """In the candidate's process, before it reads a command: the mounts, Landlock and the privileges it keeps.
    `mounts` (or `mount_error`) says what `private_proc` did. Returns what is in force, for the evidence."""
    abi = sandbox.get("landlock_abi", 0) if os.environ.get("TRITONSMITH_LANDLOCK", "1") != "0" else 0
    in_namespaces = namespace_error is None
    writable = writable_paths(job_dir)
    mounts = list(mounts or [])
    if in_namespaces and mount_error is None:
        try:
            mounts += private_mounts(job_dir, os.path.dirname(job_dir.rstrip("/")), writable, read_only_rest=not abi)
        except OSError as exc:
            mount_error = exc.strerror
    if any(m.startswith("private /dev/shm") for m in mounts):
        writable.append("/dev/shm")
    evidence = {}
    if abi:
        try:
            evidence["filesystem"] = landlock(abi, writable,
                                             no_tcp=not (in_namespaces and sandbox.get("network_namespace")))
        except OSError as exc:
            abi = 0
            evidence["filesystem"] = f"not confined: Landlock failed ({exc.strerror})"
    if not abi:
        read_only = [m for m in mounts if m.startswith("every other mount read-only")]
        evidence["filesystem"] = (f"mount namespace: {read_only[0]}, writable: {', '.join(writable)}" if read_only
                                  else evidence.get("filesystem") or "not confined: no Landlock and no mount namespace")
    if mounts:
        evidence["filesystem"] += "; " + ", ".join(m for m in mounts if not m.startswith("every other"))
    if mount_error:
        evidence["filesystem"] += f"; private mounts failed ({mount_error})"
    if in_namespaces and sandbox.get("network_namespace"):
        evidence["network"] = "network namespace: no interface up"
    elif abi >= 4:
        evidence["network"] = "Landlock: no TCP bind or connect (UDP and other sockets remain)"
    else:
        evidence["network"] = "not confined: no network namespace and no Landlock network rules"
    if in_namespaces:
        evidence["processes"] = ("PID namespace: the candidate's process is its PID 1, so every process it starts "
                                 "dies with it; it cannot see or signal the evaluator's processes")
    else:
        evidence["processes"] = (f"no PID namespace ({namespace_error}): the host, a child subreaper, kills what "
                                 "the candidate leaves when the job ends; a process it detaches survives if it "
                                 "kills its host first")
        if abi >= 6:
            evidence["processes"] += "; Landlock scope: it cannot signal processes outside its domain"
    evidence["memory"] = drop_privileges() + "; the host and checker are not dumpable"
    return evidence
