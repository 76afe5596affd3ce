"""Writes one release archive and its SHA256SUMS line; dist/package.sh calls it.

    archive.py OUT_DIR NAME BINARY FILE... -- completions/FILE...
    archive.py --sbom OUT_DIR NAME SBOM    (cargo cyclonedx's SBOM, as OUT_DIR/NAME)

The archive OUT_DIR/NAME.tar.gz (NAME.zip for a Windows binary, `.exe`) holds one folder,
NAME/, with the binary, the FILEs and a completions/ folder. Entries are sorted, owned by
0:0 and dated SOURCE_DATE_EPOCH (default: 0), so the same inputs give the same bytes.
OUT_DIR/SHA256SUMS gets the archive's line (`<sha256>  <file name>`, as sha256sum
writes it), replacing an older line for the same name; the other lines stay.

With --sbom, the SBOM is written as OUT_DIR/NAME with its line in SHA256SUMS, the build
folder taken out: cargo cyclonedx names the root package by its cargo id,
`path+file:///<the source folder>#chief-upload@<version>`, which becomes
`path+file:///chief-upload#...` (the folder dist/package.sh remaps rustc's paths to), so
that the SBOM does not depend on where the sources were.
Python 3.8+, standard library only: the same on Linux, macOS and Windows runners.
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile


def main(argv):
    if argv[0] == "--sbom":
        print(place_sbom(argv[1], argv[2], argv[3]))
        return
    out_dir, name, binary = argv[0], argv[1], argv[2]
    rest = argv[3:]
    split = rest.index("--") if "--" in rest else len(rest)
    files, completions = rest[:split], rest[split + 1 :]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 0)
    windows = binary.endswith(".exe")

    entries = [(f"{name}/{os.path.basename(binary)}", binary, 0o755)]
    entries += [(f"{name}/{os.path.basename(f)}", f, 0o644) for f in files]
    entries += [(f"{name}/completions/{os.path.basename(f)}", f, 0o644) for f in completions]
    entries.sort()

    os.makedirs(out_dir, exist_ok=True)
    archive = f"{name}.zip" if windows else f"{name}.tar.gz"
    path = os.path.join(out_dir, archive)
    tmp = path + ".part"
    if windows:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for arcname, src, mode in entries:
                info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(src, "rb") as f:
                    z.writestr(info, f.read())
    else:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            dirs = sorted({os.path.dirname(a) for a, _, _ in entries})
            for d in dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
                t.addfile(info)
            for arcname, src, mode in entries:
                info = tarfile.TarInfo(arcname)
                info.size, info.mode, info.mtime = os.path.getsize(src), mode, epoch
                with open(src, "rb") as f:
                    t.addfile(info, f)
        with open(tmp, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
                g.write(raw.getvalue())
    os.replace(tmp, path)
    print(add_sum(out_dir, archive))


def place_sbom(out_dir, name, sbom):
    """Writes SBOM as OUT_DIR/NAME without its source folder, and its SHA256SUMS line."""
    with open(sbom, encoding="utf-8") as f:
        text = f.read()
    component = json.loads(text)["metadata"]["component"]
    root = component["bom-ref"]
    folder = root.split("#", 1)[0]
    if not folder.startswith("path+file://"):
        sys.exit(f"archive.py: the SBOM's root is not a local package: {root}")
    # Cargo shortens the id to `...#<version>` when the folder is named like the package.
    same = f"path+file:///chief-upload#{component['name']}@{component['version']}"
    text = text.replace(f'"{root}"', f'"{same}"')
    text = text.replace(folder + "/", "path+file:///chief-upload/")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.remove(sbom)
    return add_sum(out_dir, name)


def add_sum(out_dir, name):
    """Puts OUT_DIR/NAME's line in OUT_DIR/SHA256SUMS (sorted by name), in place of an
    older line for the same name; returns the file's path."""
    path = os.path.join(out_dir, name)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    sums = os.path.join(out_dir, "SHA256SUMS")
    lines = []
    if os.path.exists(sums):
        with open(sums, encoding="utf-8") as f:
            lines = [l for l in f.read().splitlines() if l.split()[-1:] != [name]]
    lines.append(f"{digest}  {name}")
    with open(sums, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(l + "\n" for l in sorted(lines, key=lambda l: l.split()[-1])))
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
