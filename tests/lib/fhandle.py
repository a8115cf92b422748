#!/usr/bin/env python3
"""fhandle.py — the kernel's file handles of a path (name_to_handle_at) and
opens by handle (open_by_handle_at), the export operations an NFS server uses.

  fhandle.py encode PATH            prints the handle: TYPE:HEX
  fhandle.py sha256 MOUNT HANDLE    opens HANDLE on MOUNT's filesystem, prints
                                    the sha256 of its bytes and its size,
                                    or the error's name (e.g. ESTALE), exit 1
  fhandle.py list MOUNT HANDLE      opens a directory by HANDLE, prints its names
Needs CAP_DAC_READ_SEARCH (root) for open_by_handle_at.
"""
import ctypes
import ctypes.util
import errno
import hashlib
import os
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MAX_HANDLE_SZ = 128
AT_FDCWD = -100


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * MAX_HANDLE_SZ)]


def fail(what):
    e = ctypes.get_errno()
    print(errno.errorcode.get(e, str(e)))
    sys.stderr.write("%s: %s\n" % (what, os.strerror(e)))
    sys.exit(1)


def encode(path):
    fh = FileHandle(handle_bytes=MAX_HANDLE_SZ)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(AT_FDCWD, path.encode(), ctypes.byref(fh), ctypes.byref(mount_id), 0) != 0:
        fail("name_to_handle_at " + path)
    return "%d:%s" % (fh.handle_type, bytes(fh.f_handle[:fh.handle_bytes]).hex())


def open_handle(mount, text, flags):
    kind, hexbytes = text.split(":")
    raw = bytes.fromhex(hexbytes)
    fh = FileHandle(handle_bytes=len(raw), handle_type=int(kind))
    ctypes.memmove(fh.f_handle, raw, len(raw))
    mfd = os.open(mount, os.O_RDONLY | os.O_DIRECTORY)
    fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), flags)
    os.close(mfd)
    if fd < 0:
        fail("open_by_handle_at")
    return fd


def main():
    cmd = sys.argv[1]
    if cmd == "encode":
        print(encode(sys.argv[2]))
    elif cmd == "sha256":
        fd = open_handle(sys.argv[2], sys.argv[3], os.O_RDONLY)
        h, n = hashlib.sha256(), 0
        with os.fdopen(fd, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                n += len(block)
        print(h.hexdigest(), n)
    elif cmd == "list":
        fd = open_handle(sys.argv[2], sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)
        print("\n".join(sorted(os.listdir(fd))))
        os.close(fd)
    else:
        sys.exit("usage: fhandle.py encode PATH | sha256 MOUNT HANDLE | list MOUNT HANDLE")


if __name__ == "__main__":
    main()
