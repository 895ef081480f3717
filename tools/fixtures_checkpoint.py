#!/usr/bin/env python3
"""Writes the checkpoint-reader fixtures to Tests/Fixtures/checkpoint/.

Run from the repository root with a Python that has torch (CPU) and safetensors:

    python tools/fixtures_checkpoint.py                      # (re)write the fixtures
    python tools/fixtures_checkpoint.py --check-swift-writer # only: run the Swift writer test and read
                                                             # its output back with safetensors

What is written (all small, a few KB each):
- state_zip.bin: torch.save (zip) of a state dict with F32/F16/BF16/F64/I64 tensors, special values
  (subnormals, inf, nan, -0), non-contiguous views (transposed, strided, stride 0) and views sharing
  one storage; state_zip64.bin is the same archive re-zipped with ZIP64 records forced everywhere;
  state_nocrc.bin the same state dict saved with torch's CRC computation off (all CRC fields 0);
  state_deflated.bin the same archive with DEFLATE entries (the reader refuses those).
- state.safetensors: the same tensors (contiguous copies) written by safetensors, with metadata.
- expected.json: for each tensor its dtype, shape and the float32 bit patterns torch gives for
  `tensor.float()` (bits, so NaN and -0 compare exactly), or "refused" for integer tensors.
- Malicious or broken PyTorch files: evil_*.bin (globals that would run code), missing_storage.bin,
  short_storage.bin, out_of_bounds_view.bin, big_endian.bin, truncated_zip.bin, legacy.bin.
- st_*.safetensors: broken safetensors made by byte surgery on a valid file; bad_files.json says
  which error each one must produce.
- writer_case.json + writer_reference.safetensors: tensors the Swift writer must turn into exactly
  the bytes safetensors writes.

Rerunning rewrites identical bytes except legacy.bin (torch keys legacy storages by object id) and
state.safetensors (safetensors writes its two metadata keys in hash order); their content is the same.
"""
import argparse
import io
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections import OrderedDict

import torch
from safetensors import safe_open
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "checkpoint")

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


def f32_bits(t):
    """Bit patterns of tensor.float(), flattened in row-major order of the logical (strided) view."""
    return [int(x) & 0xFFFFFFFF for x in t.float().contiguous().view(torch.int32).flatten().tolist()]


def make_state_dict():
    inf, nan = float("inf"), float("nan")
    sd = OrderedDict()
    sd["f32.matrix"] = torch.tensor(
        [[0.0, -0.0, 1.0, -1.5], [3.4028234663852886e38, 1e-40, 1.17549435e-38, inf],
         [-inf, nan, 0.1, -123456.789]], dtype=torch.float32)
    sd["f16.special"] = torch.tensor(
        [0.0, -0.0, 1.0, -2.0, 65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08,
         3.0e-06, -4.5e-07, inf, -inf, nan, 0.1, 1.0 / 3.0, 1000.5], dtype=torch.float16)
    sd["bf16.special"] = torch.tensor(
        [0.0, -0.0, 1.0, -2.0, 3.3895313892515355e38, 1e-40, 9.2e-41, 1.1754943508222875e-38,
         inf, -inf, nan, 0.1, 1.0 / 3.0, -7.25], dtype=torch.bfloat16)
    sd["f64.values"] = torch.tensor(
        [1.0 / 3.0, 1e300, -1e300, -1e-50, 1e-45, math.pi, 2.0 ** -149, 16777217.0], dtype=torch.float64)
    sd["i64.ids"] = torch.tensor([1, 2, 3], dtype=torch.int64)
    base = torch.arange(15, dtype=torch.float32).reshape(3, 5) * 0.5 - 2.0
    sd["view.base"] = base
    sd["view.transposed"] = base.t()                 # shape (5,3), strides (1,5)
    sd["view.row"] = base[1]                         # storage offset 5
    sd["view.strided"] = base[:, ::2]                # strides (5,2)
    sd["view.column"] = base[1:, 2]                  # offset 7, stride 5
    half = (torch.arange(6, dtype=torch.float32) * 0.75 - 1.0).to(torch.float16).reshape(2, 3)
    sd["f16.transposed"] = half.t()
    sd["slice_only"] = (torch.arange(10, dtype=torch.float32) + 0.25)[3:6]   # storage of 10, view of 3
    sd["expanded"] = torch.tensor([1.5, -2.5, 4.0]).expand(2, 3)            # stride 0
    sd["empty"] = torch.zeros(0, 4)
    sd["scalar"] = torch.tensor(2.5)
    sd._metadata = OrderedDict({"": {"version": 1}})
    return sd


def expected_json(sd):
    out = {}
    for name, t in sd.items():
        entry = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape)}
        if t.dtype.is_floating_point:
            entry["bits"] = f32_bits(t)
        else:
            entry["refused"] = True
        out[name] = entry
    return out


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def torch_save_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def stamped(name):
    """A zip entry dated like torch's (1980-01-01), so rerunning the script rewrites identical bytes."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def rezip(data, compression=zipfile.ZIP_STORED, replace=None, drop=(), force_zip64=False):
    """Copies a zip archive entry by entry, optionally replacing or dropping entries."""
    replace = replace or {}
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    saved = (zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT)
    if force_zip64:
        # zipfile writes ZIP64 extra fields and end records once sizes/offsets/counts pass these limits.
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        with zipfile.ZipFile(out, "w", compression=compression) as dst:
            for info in src.infolist():
                if any(info.filename.endswith(d) for d in drop):
                    continue
                body = src.read(info.filename)
                for suffix, new in replace.items():
                    if info.filename.endswith(suffix):
                        body = new
                if force_zip64:
                    with dst.open(zipfile.ZipInfo(info.filename), "w", force_zip64=True) as w:
                        w.write(body)
                else:
                    dst.writestr(stamped(info.filename), body, compress_type=compression)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved
    return out.getvalue()


class EvilOsSystem:
    def __reduce__(self):
        return (os.system, ("echo sentimentd-fixture-this-must-never-run",))


class EvilEval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('echo never')",))


class EvilPopen:
    def __reduce__(self):
        return (subprocess.Popen, (["echo", "never"],))


class FakeStorage:
    def __init__(self, key, numel, storage_type=torch.FloatStorage):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class FakeTensor:
    """Pickles like a torch tensor, with any storage offset/size/stride we choose."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def torch_like_zip(state, storages, byteorder=b"little"):
    """A zip laid out like torch.save's (archive/data.pkl, archive/data/<key>, archive/byteorder)."""
    buf = io.BytesIO()
    TorchLikePickler(buf, protocol=2).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(stamped("archive/data.pkl"), buf.getvalue())
        z.writestr(stamped("archive/byteorder"), byteorder)
        for key, body in storages.items():
            z.writestr(stamped(f"archive/data/{key}"), body)
        z.writestr(stamped("archive/version"), b"3\n")
    return out.getvalue()


def safetensors_bytes(header, data):
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def write_bad_safetensors():
    """Byte surgery on a valid two-tensor file. Returns {file: expected error case}."""
    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    b = torch.arange(4, dtype=torch.float32) - 1.5
    data = a.numpy().tobytes() + b.numpy().tobytes()   # 24 + 16 bytes
    good = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [24, 40]}}

    def variant(**changes):
        h = json.loads(json.dumps(good))
        for k, v in changes.items():
            name, field = k.split("__")
            if v is None:
                del h[name][field]
            else:
                h[name][field] = v
        return h

    cases = {}

    def put(name, body, error):
        write(name, body)
        cases[name] = error

    valid = safetensors_bytes(good, data)
    write("st_valid.safetensors", valid)
    put("st_tiny.safetensors", valid[:5], "fileTooShort")
    put("st_truncated.safetensors", valid[:-4], "offsetsOutOfBounds")
    put("st_header_too_long.safetensors",
        struct.pack("<Q", len(valid) + 100) + valid[8:], "headerLengthOutOfBounds")
    put("st_header_huge.safetensors", struct.pack("<Q", 2 ** 64 - 1) + valid[8:], "headerLengthOutOfBounds")
    put("st_not_json.safetensors", struct.pack("<Q", 16) + b"{not json}      " + data, "headerNotJSON")
    put("st_not_utf8.safetensors", struct.pack("<Q", 8) + b'{"\xff":1} ' + data, "headerNotJSON")
    put("st_not_object.safetensors", struct.pack("<Q", 8) + b"[1,2]   " + data, "headerNotJSON")
    put("st_overlap.safetensors", safetensors_bytes(variant(b__data_offsets=[8, 24]), data[:24]),
        "overlappingTensors")
    put("st_out_of_bounds.safetensors", safetensors_bytes(variant(b__data_offsets=[24, 48]), data),
        "offsetsOutOfBounds")
    put("st_length_mismatch.safetensors", safetensors_bytes(variant(a__shape=[2, 2]), data),
        "byteLengthMismatch")
    put("st_begin_after_end.safetensors", safetensors_bytes(variant(b__data_offsets=[40, 24]), data),
        "invalidEntry")
    put("st_bad_dtype.safetensors", safetensors_bytes(variant(a__dtype="F8_E9"), data), "unknownDType")
    put("st_negative_shape.safetensors", safetensors_bytes(variant(a__shape=[-1, 3]), data), "invalidEntry")
    put("st_overflow_shape.safetensors",
        safetensors_bytes(variant(a__shape=[2 ** 62, 2 ** 62, 16]), data), "byteLengthMismatch")
    put("st_overflow_offsets.safetensors",
        safetensors_bytes(variant(b__data_offsets=[24, 2 ** 64 - 1]), data), "offsetsOutOfBounds")
    put("st_float_offsets.safetensors", safetensors_bytes(variant(b__data_offsets=[24.0, 40.0]), data),
        "invalidEntry")
    put("st_missing_offsets.safetensors", safetensors_bytes(variant(b__data_offsets=None), data),
        "invalidEntry")
    h = dict(good)
    h["__metadata__"] = {"format": 1}
    put("st_bad_metadata.safetensors", safetensors_bytes(h, data), "invalidMetadata")
    dup = b'{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},' \
          b'"a":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}}'
    dup += b" " * ((8 - len(dup) % 8) % 8)
    put("st_duplicate_name.safetensors", struct.pack("<Q", len(dup)) + dup + data, "duplicateTensorName")
    return cases


def write_writer_case():
    """Tensors (as bit patterns) the Swift writer must serialise to exactly safetensors' bytes."""
    specials = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, 3.4028234663852886e38]
    tensors = OrderedDict()
    tensors["zeta.weight"] = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.125 - 0.5
    tensors["alpha.bias"] = torch.tensor(specials, dtype=torch.float32)
    tensors["mid"] = torch.tensor(7.0)
    tensors["Upper.case"] = torch.zeros(2, 0)
    tensors["emb.word_embeddings.weight"] = torch.linspace(-1, 1, 10, dtype=torch.float32).reshape(5, 2)
    metadata = {"format": "pt"}
    save_file(dict(tensors), os.path.join(OUT, "writer_reference.safetensors"), metadata=metadata)
    case = {"metadata": metadata,
            "tensors": [{"name": n, "shape": list(t.shape), "bits": f32_bits(t)} for n, t in tensors.items()]}
    with open(os.path.join(OUT, "writer_case.json"), "w") as f:
        json.dump(case, f, indent=1)


def check_python_reads_fixtures(sd):
    """The fixtures must be what we think they are: read them back with torch and safetensors."""
    loaded = torch.load(os.path.join(OUT, "state_zip.bin"), weights_only=True)
    for name, t in sd.items():
        assert loaded[name].dtype == t.dtype and loaded[name].shape == t.shape, name
        if t.dtype.is_floating_point:
            assert f32_bits(loaded[name]) == f32_bits(t), name
        else:
            assert torch.equal(loaded[name], t), name
    assert loaded["view.transposed"].stride() == (1, 5)
    assert loaded["expanded"].stride() == (0, 1)
    assert loaded["view.row"].storage_offset() == 5
    assert loaded["view.transposed"].untyped_storage().data_ptr() == loaded["view.base"].untyped_storage().data_ptr()
    z64 = torch.load(os.path.join(OUT, "state_zip64.bin"), weights_only=True)
    assert f32_bits(z64["f16.special"]) == f32_bits(sd["f16.special"])
    with safe_open(os.path.join(OUT, "state.safetensors"), "pt") as f:
        assert f.metadata()["format"] == "pt"
        for name in f.keys():
            got = f.get_tensor(name)
            assert got.dtype == sd[name].dtype and got.shape == sd[name].shape, name
            if got.dtype.is_floating_point:
                assert f32_bits(got) == f32_bits(sd[name]), name
            else:
                assert torch.equal(got, sd[name]), name
    warnings.filterwarnings("ignore", message="Detected pickle protocol")
    for evil in ("evil_os_system.bin", "evil_eval.bin", "evil_stack_global.bin"):
        try:
            torch.load(os.path.join(OUT, evil), weights_only=True)
        except pickle.UnpicklingError:
            pass
        else:
            raise AssertionError(f"{evil} loaded with weights_only=True")


def verify_swift_written(folder):
    """Reads the Swift writer's file with safetensors and compares it with the spec it wrote beside it."""
    with open(os.path.join(folder, "swift_written.json")) as f:
        spec = json.load(f)
    with safe_open(os.path.join(folder, "swift_written.safetensors"), "pt") as f:
        assert f.metadata() == spec["metadata"], (f.metadata(), spec["metadata"])
        assert sorted(f.keys()) == sorted(t["name"] for t in spec["tensors"])
        for t in spec["tensors"]:
            got = f.get_tensor(t["name"])
            assert got.dtype == torch.float32 and list(got.shape) == t["shape"], t["name"]
            assert f32_bits(got) == t["bits"], t["name"]
    print(f"python reads the Swift writer's output: {len(spec['tensors'])} tensors, metadata {spec['metadata']}")


def check_swift_writer():
    """Runs the Swift writer test with CKPT_WRITER_OUT set and reads its files with safetensors."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CKPT_WRITER_OUT=tmp)
        cmd = ["swift", "test", "--scratch-path", os.path.join(ROOT, ".build-ckpt"),
               "--filter", "SafetensorsWriterTests/testWriterOutputForPython"]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        verify_swift_written(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-swift-writer", action="store_true")
    args = ap.parse_args()
    if args.check_swift_writer:
        check_swift_writer()
        return
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    sd = make_state_dict()
    # Saved under its own name, so the archive's top folder is "state_zip/", not the "archive/" of a buffer.
    torch.save(sd, os.path.join(OUT, "state_zip.bin"))
    with open(os.path.join(OUT, "state_zip.bin"), "rb") as f:
        zip_bytes = f.read()
    write("state_zip64.bin", rezip(zip_bytes, force_zip64=True))
    # torch can skip CRCs (torch.utils.serialization.config.save.compute_crc32 = False): every CRC field is 0.
    from torch.utils.serialization import config as serialization_config
    serialization_config.save.compute_crc32 = False
    try:
        torch.save(sd, os.path.join(OUT, "state_nocrc.bin"))
    finally:
        serialization_config.save.compute_crc32 = True
    save_file({k: v.contiguous().clone() for k, v in sd.items()}, os.path.join(OUT, "state.safetensors"),
              metadata={"format": "pt", "source": "tools/fixtures_checkpoint.py"})
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected_json(sd), f, indent=1, sort_keys=True)

    small = OrderedDict(w=torch.ones(2))
    bad = {}
    write("evil_os_system.bin", torch_save_bytes({"w": torch.ones(2), "x": EvilOsSystem()}))
    bad["evil_os_system.bin"] = ["forbiddenGlobal", "posix.system"]
    write("evil_eval.bin", rezip(torch_save_bytes(small), replace={"/data.pkl": pickle.dumps(EvilEval(), protocol=2, fix_imports=False)}))
    bad["evil_eval.bin"] = ["forbiddenGlobal", "builtins.eval"]
    write("evil_stack_global.bin",
          rezip(torch_save_bytes(small), replace={"/data.pkl": pickle.dumps({"w": EvilPopen()}, protocol=4)}))
    bad["evil_stack_global.bin"] = ["forbiddenGlobal", "subprocess.Popen"]
    write("missing_storage.bin", rezip(zip_bytes, drop=("/data/0",)))
    bad["missing_storage.bin"] = ["missingEntry", "data/0"]
    first_storage = zipfile.ZipFile(io.BytesIO(zip_bytes)).read(
        [n for n in zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist() if n.endswith("/data/0")][0])
    write("short_storage.bin", rezip(zip_bytes, replace={"/data/0": first_storage[: len(first_storage) // 2]}))
    bad["short_storage.bin"] = ["storageTooShort", "0"]
    write("out_of_bounds_view.bin", torch_like_zip(
        OrderedDict(w=FakeTensor(FakeStorage("0", 4), 2, [3], [1])), {"0": b"\0" * 16}))
    bad["out_of_bounds_view.bin"] = ["viewOutOfBounds", "w"]
    write("big_endian.bin", torch_like_zip(
        OrderedDict(w=FakeTensor(FakeStorage("0", 4), 0, [4], [1])), {"0": b"\0" * 16}, byteorder=b"big"))
    bad["big_endian.bin"] = ["bigEndian", "big"]
    write("truncated_zip.bin", zip_bytes[: len(zip_bytes) // 2])
    bad["truncated_zip.bin"] = ["notZipArchive", ""]
    write("state_deflated.bin", rezip(zip_bytes, compression=zipfile.ZIP_DEFLATED))
    bad["state_deflated.bin"] = ["compressedEntry", "is compressed (method 8)"]
    write("legacy.bin", torch_save_bytes(small, _use_new_zipfile_serialization=False))
    bad["legacy.bin"] = ["legacyTorchFormat", ""]
    with open(os.path.join(OUT, "bad_pytorch.json"), "w") as f:
        json.dump(bad, f, indent=1, sort_keys=True)

    st_cases = write_bad_safetensors()
    with open(os.path.join(OUT, "bad_safetensors.json"), "w") as f:
        json.dump(st_cases, f, indent=1, sort_keys=True)
    write_writer_case()

    check_python_reads_fixtures(sd)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
