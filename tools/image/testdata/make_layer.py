#!/usr/bin/env python3
"""tools/image/testdata/make_layer.py — writes a layer tar from a line spec on stdin, so tests can
put owners, setuid bits, device nodes, hardlinks and whiteouts into real tar files without root.

    make_layer.py OUT.tar <<'SPEC'
    dir   bin 0755 0 0
    file  bin/app 04755 0 0 hello world      # content is the rest of the line
    big   data/blob 0644 1048576             # deterministic pseudo-random bytes
    symlink sbin bin
    hardlink bin/app2 bin/app
    char  dev/zero0 0666 1 5
    fifo  run/pipe 0600
    SPEC
"""
import hashlib
import io
import sys
import tarfile


def big_content(path, size):
    out = bytearray()
    seed = path.encode()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def main():
    out = sys.argv[1]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for raw in sys.stdin:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            kind, rest = line.split(None, 1)
            info = tarfile.TarInfo()
            info.mtime = 0
            data = None
            if kind == "dir":
                path, mode, uid, gid = rest.split()
                info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, int(mode, 8), int(uid), int(gid)
            elif kind == "file":
                parts = rest.split(None, 4)
                path, mode, uid, gid = parts[:4]
                data = (parts[4] if len(parts) > 4 else "").encode()
                info.type, info.mode, info.uid, info.gid = tarfile.REGTYPE, int(mode, 8), int(uid), int(gid)
            elif kind == "big":
                path, mode, size = rest.split()
                data = big_content(path, int(size))
                info.type, info.mode = tarfile.REGTYPE, int(mode, 8)
            elif kind == "symlink":
                path, target = rest.split(None, 1)
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, target
            elif kind == "hardlink":
                path, target = rest.split(None, 1)
                info.type, info.linkname = tarfile.LNKTYPE, target
            elif kind in ("char", "block"):
                path, mode, major, minor = rest.split()
                info.type = tarfile.CHRTYPE if kind == "char" else tarfile.BLKTYPE
                info.mode, info.devmajor, info.devminor = int(mode, 8), int(major), int(minor)
            elif kind == "fifo":
                path, mode = rest.split()
                info.type, info.mode = tarfile.FIFOTYPE, int(mode, 8)
            else:
                sys.exit("unknown entry kind: " + kind)
            info.name = path
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)


if __name__ == "__main__":
    main()
