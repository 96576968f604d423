"""The system calls a program may not make: a seccomp filter each program installs on itself.

Programs never need new namespaces, mounts, tracing or reading other processes, the kernel
keyring, BPF, io_uring, module loading, SysV IPC, POSIX message queues, memory files, file
notifications (inotify and fanotify would let programs on different workers signal each
other through files they can all read), ``sync`` (which makes the whole machine write
back) or VSOCK, PF_KEY and packet sockets.
Denying them removes the ways out of the sandbox that need no kernel bug (a user
namespace is where most privilege escalations start), and the ways to hold memory that
outlives the program or escapes the memory cap. A denied call fails with ``EPERM``
(``clone3`` with ``ENOSYS``, so that libc falls back to ``clone``, whose namespace flags
are checked); a call through another architecture's entry (x32, i386) kills the program.

Filters exist for x86_64 and aarch64, the architectures rltf is run on; elsewhere
``for_this_machine`` returns None and the judge says that no filter is in force.
"""

from __future__ import annotations

import ctypes
import os
import sys

_DENIED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev",
    "pidfd_getfd", "kcmp", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog",
    "lookup_dcookie", "vhangup", "name_to_handle_at", "open_by_handle_at", "sethostname", "setdomainname",
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "personality", "shmget", "semget",
    "msgget", "mq_open", "memfd_create", "memfd_secret", "inotify_init1", "fanotify_init", "sync", "syncfs",
)
_X86_ONLY = {"iopl": 172, "ioperm": 173, "modify_ldt": 154, "uselib": 134, "sysfs": 139, "nfsservctl": 180,
             "inotify_init": 253}
# Socket families programs never need: VSOCK reaches the hypervisor whatever the network
# namespace, PF_KEY and packet sockets the kernel's key and link layers.
DENIED_FAMILIES = (40, 15, 17)  # AF_VSOCK, AF_KEY, AF_PACKET

_NUMBERS = {
    "x86_64": {
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "pidfd_getfd": 438, "kcmp": 312, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "quotactl": 179, "syslog": 103, "lookup_dcookie": 212, "vhangup": 153, "name_to_handle_at": 303,
        "open_by_handle_at": 304, "sethostname": 170, "setdomainname": 171, "settimeofday": 164,
        "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "personality": 135, "shmget": 29,
        "semget": 64, "msgget": 68, "mq_open": 240, "memfd_create": 319, "memfd_secret": 447,
        "inotify_init1": 294, "fanotify_init": 300, "sync": 162, "syncfs": 306,
        "clone": 56, "clone3": 435, "socket": 41, **_X86_ONLY,
    },
    "aarch64": {
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "pidfd_getfd": 438, "kcmp": 272, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "quotactl": 60, "syslog": 116, "lookup_dcookie": 18, "vhangup": 58, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "sethostname": 161, "setdomainname": 162, "settimeofday": 170,
        "clock_settime": 112, "adjtimex": 171, "clock_adjtime": 266, "personality": 92, "shmget": 194,
        "semget": 190, "msgget": 186, "mq_open": 180, "memfd_create": 279, "memfd_secret": 447,
        "inotify_init1": 26, "fanotify_init": 262, "sync": 81, "syncfs": 267,
        "clone": 220, "clone3": 435, "socket": 198,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000
CLONE_NEW_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET

_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def filter_code(machine: str) -> bytes | None:
    """The classic-BPF program for ``machine`` (``os.uname().machine``), or None if unknown."""
    numbers = _NUMBERS.get(machine)
    if numbers is None:
        return None
    denied = [numbers[name] for name in (*_DENIED, *(_X86_ONLY if machine == "x86_64" else ()))]
    arg0_low = 16 if sys.byteorder == "little" else 20
    code: list[tuple[int, object, object, int]] = [
        (_LD_ABS, 0, 0, 4),
        (_JEQ, 0, "kill", _AUDIT_ARCH[machine]),
        (_LD_ABS, 0, 0, 0),
    ]
    if machine == "x86_64":
        code.append((_JGE, "kill", 0, _X32_BIT))
    code += [(_JEQ, "clone", 0, numbers["clone"]), (_JEQ, "nosys", 0, numbers["clone3"]),
             (_JEQ, "socket", 0, numbers["socket"])]
    code += [(_JEQ, "deny", 0, nr) for nr in denied]
    code += [
        (_RET, 0, 0, _ALLOW),
        ("clone", _LD_ABS, 0, 0, arg0_low),
        (_JSET, "deny", 0, CLONE_NEW_FLAGS),
        (_RET, 0, 0, _ALLOW),
        ("socket", _LD_ABS, 0, 0, arg0_low),
        *[(_JEQ, "deny", 0, family) for family in DENIED_FAMILIES],
        (_RET, 0, 0, _ALLOW),
        ("deny", _RET, 0, 0, _ERRNO | _EPERM),
        ("nosys", _RET, 0, 0, _ERRNO | _ENOSYS),
        ("kill", _RET, 0, 0, _KILL_PROCESS),
    ]
    return _assemble(code)


def _assemble(code: list[tuple]) -> bytes:
    """Instructions, some led by a label; jump targets named by label become offsets."""
    labels, plain = {}, []
    for instruction in code:
        if isinstance(instruction[0], str):
            labels[instruction[0]] = len(plain)
            instruction = instruction[1:]
        plain.append(instruction)
    out = bytearray()
    for pc, (op, jt, jf, k) in enumerate(plain):
        jt, jf = (labels[j] - pc - 1 if isinstance(j, str) else j for j in (jt, jf))
        out += op.to_bytes(2, sys.byteorder) + bytes((jt, jf)) + k.to_bytes(4, sys.byteorder)
    return bytes(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Filter:
    """A filter made ready once (in the zygote), installed by each program process on itself."""

    def __init__(self, code: bytes):
        self._buffer = ctypes.create_string_buffer(code, len(code))
        self._program = _SockFprog(len(code) // 8, ctypes.addressof(self._buffer))
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl
        self._prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]

    def install(self) -> None:
        """After this the process, and every process it starts, is held to the filter."""
        if self._prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if self._prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(self._program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def for_this_machine() -> Filter | None:
    code = filter_code(os.uname().machine)
    return Filter(code) if code is not None else None
