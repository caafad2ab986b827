// hfdump.mjs FILE... - print what @huggingface/gguf reads from GGUF files,
// as one JSON document: [{file, ok, error?, version, tensor_count, kv_count,
// data_offset, metadata: [{key, type, item_type?, value}], tensors: [...]}].
// 64-bit integers (BigInt) become {"big": "DIGITS"} so nothing is rounded;
// NaN and infinities become null, as JSON has no other spelling for them.
import { gguf, GGUFValueType } from "@huggingface/gguf";

const TYPE_NAMES = {
  [GGUFValueType.UINT8]: "uint8", [GGUFValueType.INT8]: "int8",
  [GGUFValueType.UINT16]: "uint16", [GGUFValueType.INT16]: "int16",
  [GGUFValueType.UINT32]: "uint32", [GGUFValueType.INT32]: "int32",
  [GGUFValueType.FLOAT32]: "float32", [GGUFValueType.BOOL]: "bool",
  [GGUFValueType.STRING]: "string", [GGUFValueType.ARRAY]: "array",
  [GGUFValueType.UINT64]: "uint64", [GGUFValueType.INT64]: "int64",
  [GGUFValueType.FLOAT64]: "float64",
};
const HEADER_KEYS = new Set(["version", "tensor_count", "kv_count"]);

function plain(v) {
  if (typeof v === "bigint") return { big: v.toString() };
  if (typeof v === "number" && !Number.isFinite(v)) return null;
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

const out = [];
for (const file of process.argv.slice(2)) {
  try {
    const r = await gguf(file, { allowLocalFile: true, typedMetadata: true });
    const metadata = [];
    for (const [key, entry] of Object.entries(r.typedMetadata)) {
      if (HEADER_KEYS.has(key)) continue;
      const m = { key, type: TYPE_NAMES[entry.type], value: plain(entry.value) };
      if (entry.type === GGUFValueType.ARRAY) m.item_type = TYPE_NAMES[entry.subType];
      metadata.push(m);
    }
    out.push({
      file, ok: true,
      version: r.metadata.version,
      tensor_count: r.metadata.tensor_count.toString(),
      kv_count: r.metadata.kv_count.toString(),
      data_offset: r.tensorDataOffset.toString(),
      metadata,
      tensors: r.tensorInfos.map((t) => ({
        name: t.name, n_dims: t.n_dims, shape: t.shape.map((n) => n.toString()),
        type_id: t.dtype, offset: t.offset.toString(),
      })),
    });
  } catch (e) {
    out.push({ file, ok: false, error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(out));
