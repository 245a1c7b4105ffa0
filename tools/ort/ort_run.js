#!/usr/bin/env node
// ort_run.js: run an ONNX model with onnxruntime-node on backend-test-layout data.
// Used by vmaskc as an oracle in interop tests and as the competitor in benchmarks.
//
//   node tools/ort/ort_run.js MODEL.onnx --test-data DIR [--out OUTDIR] [--threads N]
//        [--repeat R] [--warmup W] [--atol A] [--rtol R] [--json]
//
// Exit codes: 0 ok; 1 outputs differ from expected; 2 usage / file / model / run error;
// 77 onnxruntime-node not installed (ctest SKIP_RETURN_CODE).
// See tools/ort/README.md.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const EXIT_OK = 0, EXIT_MISMATCH = 1, EXIT_ERROR = 2, EXIT_SKIP = 77;

class UsageError extends Error {}

function fail(msg, code = EXIT_ERROR) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------------------
// ONNX TensorProto data types  <->  onnxruntime-node tensor types
// ---------------------------------------------------------------------------
const DT = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8,
  BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15,
  BFLOAT16: 16,
};
const DT_NAME = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k.toLowerCase()]));

// onnx data_type -> [ort type name, TypedArray ctor (null for string)]
const ONNX_TO_ORT = {
  [DT.FLOAT]: ['float32', Float32Array],
  [DT.DOUBLE]: ['float64', Float64Array],
  [DT.UINT8]: ['uint8', Uint8Array],
  [DT.INT8]: ['int8', Int8Array],
  [DT.UINT16]: ['uint16', Uint16Array],
  [DT.INT16]: ['int16', Int16Array],
  [DT.INT32]: ['int32', Int32Array],
  [DT.INT64]: ['int64', BigInt64Array],
  [DT.UINT32]: ['uint32', Uint32Array],
  [DT.UINT64]: ['uint64', BigUint64Array],
  [DT.BOOL]: ['bool', Uint8Array],
  [DT.FLOAT16]: ['float16', Uint16Array], // raw IEEE half bits
  [DT.STRING]: ['string', null],
};
const ORT_TO_ONNX = Object.fromEntries(Object.entries(ONNX_TO_ORT).map(([k, v]) => [v[0], Number(k)]));

// ---------------------------------------------------------------------------
// Minimal protobuf wire-format reader for onnx.TensorProto
// ---------------------------------------------------------------------------
class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; this.end = buf.length; }
  eof() { return this.pos >= this.end; }
  byte() {
    if (this.pos >= this.end) throw new Error('truncated protobuf');
    return this.buf[this.pos++];
  }
  // varint as a JS number, low 32 bits only (tags, lengths, enums, int32 fields).
  // Returns the unsigned 32-bit value; callers use `| 0` for signed int32.
  u32() {
    let v = 0, shift = 0, b;
    do {
      b = this.byte();
      if (shift < 32) v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (shift > 70) throw new Error('bad varint');
    } while (b & 0x80);
    return v % 4294967296;
  }
  // full 64-bit varint as unsigned BigInt
  u64() {
    let lo = 0, shift = 0, b, big = 0n;
    // fast path for the first 28 bits
    for (;;) {
      b = this.byte();
      if (shift < 28) {
        lo |= (b & 0x7f) << shift;
      } else {
        big |= BigInt(b & 0x7f) << BigInt(shift);
      }
      shift += 7;
      if (!(b & 0x80)) break;
      if (shift > 70) throw new Error('bad varint');
    }
    return BigInt.asUintN(64, BigInt(lo >>> 0) | big);
  }
  bytes() {
    const n = this.u32();
    if (this.pos + n > this.end) throw new Error('truncated protobuf (length-delimited field)');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wt) {
    switch (wt) {
      case 0: this.u64(); break;
      case 1: this.pos += 8; break;
      case 2: this.bytes(); break;
      case 5: this.pos += 4; break;
      default: throw new Error(`unsupported wire type ${wt}`);
    }
    if (this.pos > this.end) throw new Error('truncated protobuf');
  }
}

// Read a repeated scalar field that may be packed (wt 2) or not.
function readRepeated(r, wt, scalarWt, readOne, out) {
  if (wt === 2) {
    const sub = new Reader(r.bytes());
    while (!sub.eof()) out.push(readOne(sub));
  } else if (wt === scalarWt) {
    out.push(readOne(r));
  } else {
    throw new Error(`unexpected wire type ${wt}`);
  }
}
const rdF32 = (r) => { const v = r.buf.readFloatLE(r.pos); r.pos += 4; return v; };
const rdF64 = (r) => { const v = r.buf.readDoubleLE(r.pos); r.pos += 8; return v; };

function parseTensorProto(buf) {
  const t = {
    dims: [], dataType: 0, name: '', raw: null,
    floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [], stringData: [],
    external: false, segment: false,
  };
  const r = new Reader(buf);
  while (!r.eof()) {
    const tag = r.u32();
    const field = Math.floor(tag / 8), wt = tag & 7;
    switch (field) {
      case 1: readRepeated(r, wt, 0, (s) => Number(BigInt.asIntN(64, s.u64())), t.dims); break;
      case 2: t.dataType = r.u32(); break;
      case 3: t.segment = true; r.skip(wt); break;
      case 4: readRepeated(r, wt, 5, rdF32, t.floatData); break;
      case 5: readRepeated(r, wt, 0, (s) => s.u32() | 0, t.int32Data); break;
      case 6: t.stringData.push(r.bytes()); break;
      case 7: readRepeated(r, wt, 0, (s) => BigInt.asIntN(64, s.u64()), t.int64Data); break;
      case 8: t.name = r.bytes().toString('utf8'); break;
      case 9: t.raw = r.bytes(); break;
      case 10: readRepeated(r, wt, 1, rdF64, t.doubleData); break;
      case 11: readRepeated(r, wt, 0, (s) => s.u64(), t.uint64Data); break;
      case 13: t.external = true; r.skip(wt); break;
      case 14: if (r.u32() === 1) t.external = true; break;
      default: r.skip(wt);
    }
  }
  return t;
}

// TensorProto -> {name, type (ort), dims, data, onnxType}
function decodeTensor(buf, what) {
  let t;
  try {
    t = parseTensorProto(buf);
  } catch (e) {
    throw new Error(`${what}: not a valid TensorProto (${e.message})`);
  }
  if (t.external) throw new Error(`${what}: external data is not supported`);
  if (t.segment) throw new Error(`${what}: not a plain TensorProto (segmented tensor, or a SequenceProto/OptionalProto?)`);
  const m = ONNX_TO_ORT[t.dataType];
  if (!m) {
    const n = DT_NAME[t.dataType] || `unknown(${t.dataType})`;
    throw new Error(`${what}: data_type ${n} is not supported` +
      (t.dataType === 0 ? ' (is this a SequenceProto/OptionalProto rather than a TensorProto?)' : ''));
  }
  const [type, Ctor] = m;
  for (const d of t.dims) if (!(d >= 0)) throw new Error(`${what}: negative dim ${d}`);
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count > 2 ** 32) throw new Error(`${what}: implausible dims [${t.dims}] (not a TensorProto? SequenceProto/OptionalProto are not supported)`);
  let data;
  if (type === 'string') {
    data = t.stringData.map((b) => b.toString('utf8'));
  } else if (t.raw !== null) {
    if (t.raw.length !== count * Ctor.BYTES_PER_ELEMENT) {
      throw new Error(`${what}: raw_data has ${t.raw.length} bytes, expected ${count} x ${Ctor.BYTES_PER_ELEMENT}`);
    }
    const ab = new ArrayBuffer(t.raw.length); // copy: aligned, and detached from the file buffer
    new Uint8Array(ab).set(t.raw);
    data = new Ctor(ab);
  } else {
    let src;
    switch (t.dataType) {
      case DT.FLOAT: src = t.floatData; break;
      case DT.DOUBLE: src = t.doubleData; break;
      case DT.INT64: src = t.int64Data; break;
      case DT.UINT32: src = t.uint64Data.map(Number); break;
      case DT.UINT64: src = t.uint64Data; break;
      default: src = t.int32Data; // int8/uint8/int16/uint16/int32/bool/float16
    }
    data = Ctor.from(src);
  }
  if (data.length !== count) {
    throw new Error(`${what}: has ${data.length} elements but dims [${t.dims}] need ${count}`);
  }
  return { name: t.name, type, dims: t.dims, data, onnxType: t.dataType };
}

// ---------------------------------------------------------------------------
// Minimal TensorProto encoder (dims, data_type, name, raw_data / string_data)
// ---------------------------------------------------------------------------
function varint(n) { // n: non-negative safe integer
  const out = [];
  while (n >= 0x80) { out.push((n % 128) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}
function lenField(field, payload) {
  return Buffer.concat([varint(field * 8 + 2), varint(payload.length), payload]);
}

function encodeTensor(name, ortType, dims, data) {
  const onnxType = ORT_TO_ONNX[ortType];
  if (onnxType === undefined) throw new Error(`cannot encode output '${name}' of type ${ortType}`);
  const parts = [];
  if (dims.length) parts.push(lenField(1, Buffer.concat(dims.map((d) => varint(d)))));
  parts.push(varint(2 * 8 + 0), varint(onnxType));
  if (ortType === 'string') {
    for (const s of data) parts.push(lenField(6, Buffer.from(String(s), 'utf8')));
  } else {
    // little-endian host checked at startup, so the typed array bytes are the raw_data.
    parts.push(lenField(9, Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  }
  parts.push(lenField(8, Buffer.from(name, 'utf8')));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function toNumberFn(type) {
  if (type === 'float16') return halfToFloat;
  if (type === 'int64' || type === 'uint64') return Number;
  return (x) => x;
}

// Returns {maxAbs, maxRel, nBad, firstBad}; check is |a-e| <= atol + rtol*|e| elementwise.
// NaN matches NaN and equal infinities match; max_rel_err is taken over elements with e != 0.
function compare(actual, expected, atol, rtol) {
  const res = { maxAbs: 0, maxRel: 0, nBad: 0, firstBad: null };
  const a = actual.data, e = expected.data, n = e.length;
  if (actual.type === 'string') {
    for (let i = 0; i < n; i++) {
      if (a[i] !== e[i]) {
        res.nBad++; res.maxAbs = Infinity;
        if (!res.firstBad) res.firstBad = { index: i, actual: a[i], expected: e[i] };
      }
    }
    return res;
  }
  const bigint = actual.type === 'int64' || actual.type === 'uint64';
  const conv = toNumberFn(actual.type);
  for (let i = 0; i < n; i++) {
    let ai, ei, d;
    if (bigint) {
      if (a[i] === e[i]) continue;
      ai = Number(a[i]); ei = Number(e[i]);
      d = Math.abs(Number(a[i] - e[i]));
    } else {
      ai = conv(a[i]); ei = conv(e[i]);
      if (ai === ei || (ai !== ai && ei !== ei)) continue; // equal, or both NaN
      d = Math.abs(ai - ei); // NaN if exactly one is NaN; Infinity for inf vs finite
      if (d !== d) d = Infinity;
    }
    const ae = Math.abs(ei);
    if (d > res.maxAbs) res.maxAbs = d;
    if (ae > 0 && d / ae > res.maxRel) res.maxRel = d / ae;
    if (!(d <= atol + rtol * ae)) {
      res.nBad++;
      if (!res.firstBad) res.firstBad = { index: i, actual: bigint ? String(a[i]) : ai, expected: bigint ? String(e[i]) : ei };
    }
  }
  return res;
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------
const USAGE = `usage: node tools/ort/ort_run.js MODEL.onnx --test-data DIR [options]

  --test-data DIR   backend-test layout: input_N.pb (graph-input order), optional output_N.pb
                    (a DIR holding only test_data_set_0/ is accepted too)
  --out OUTDIR      write ORT outputs as output_N.pb (graph-output order)
  --threads N       intra-op threads (default 1); inter-op threads are always 1
  --repeat R        timed runs (default 1)
  --warmup W        untimed runs before timing (default 0)
  --atol A          absolute tolerance (default 1e-4)
  --rtol R          relative tolerance (default 1e-3); check: |a-e| <= atol + rtol*|e|
  --json            print one JSON object on stdout instead of text

exit: 0 ok, 1 mismatch vs expected outputs, 2 usage/file/model/run error,
      77 onnxruntime-node not installed (run tools/ort/install.sh)
env:  VMASKC_ORT_DIR (default $HOME/.cache/vmaskc-ort)
`;

function parseArgs(argv) {
  const o = { model: null, testData: null, out: null, threads: 1, repeat: 1, warmup: 0, atol: 1e-4, rtol: 1e-3, json: false };
  const intArg = (name, v, min) => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${name} needs an integer >= ${min}, got '${v}'`);
    return Number(v);
  };
  const numArg = (name, v) => {
    const x = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(x) || x < 0) throw new UsageError(`${name} needs a non-negative number, got '${v}'`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i], val;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) { val = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => {
      if (val !== undefined) return val;
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      case '--test-data': o.testData = next(); break;
      case '--out': o.out = next(); break;
      case '--threads': o.threads = intArg(a, next(), 1); break;
      case '--repeat': o.repeat = intArg(a, next(), 1); break;
      case '--warmup': o.warmup = intArg(a, next(), 0); break;
      case '--atol': o.atol = numArg(a, next()); break;
      case '--rtol': o.rtol = numArg(a, next()); break;
      case '--json': o.json = true; break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
        if (o.model !== null) throw new UsageError(`unexpected argument '${a}'`);
        o.model = a;
    }
  }
  if (!o.model) throw new UsageError('missing MODEL.onnx');
  if (!o.testData) throw new UsageError('missing --test-data DIR');
  return o;
}

function listPb(dir, prefix) {
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  const idx = fs.readdirSync(dir).map((f) => re.exec(f)).filter(Boolean).map((m) => Number(m[1])).sort((a, b) => a - b);
  idx.forEach((v, i) => { if (v !== i) throw new Error(`${dir}: ${prefix}_${i}.pb is missing (found ${prefix}_${v}.pb)`); });
  return idx.map((i) => path.join(dir, `${prefix}_${i}.pb`));
}

function loadOrt() {
  const dir = process.env.VMASKC_ORT_DIR || path.join(os.homedir(), '.cache', 'vmaskc-ort');
  const mod = path.join(dir, 'node_modules', 'onnxruntime-node');
  if (!fs.existsSync(path.join(mod, 'package.json'))) {
    fail(`onnxruntime-node not installed; run tools/ort/install.sh (looked in ${dir})`, EXIT_SKIP);
  }
  try {
    const ort = require(mod);
    const version = require(path.join(mod, 'package.json')).version;
    return { ort, version, dir };
  } catch (e) {
    fail(`onnxruntime-node not installed; run tools/ort/install.sh (${mod} failed to load: ${e.message})`, EXIT_SKIP);
  }
}

const fmt = (x) => (x === null ? '-' : Number.isFinite(x) ? x.toExponential(3) : String(x));
const msRound = (x) => Math.round(x * 1e4) / 1e4;
const jsonNum = (x) => (x === null || Number.isFinite(x) ? x : String(x)); // Infinity/NaN as strings

async function main() {
  let opt;
  try {
    opt = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`ort_run: ${e.message}\n${USAGE.split('\n')[0]}\n(--help for details)\n`); process.exit(EXIT_ERROR); }
    throw e;
  }
  if (os.endianness() !== 'LE') fail('big-endian hosts are not supported');

  // ORT first: when it is missing the result is a skip (77), whatever the other arguments are.
  const { ort, version } = loadOrt();

  if (!fs.existsSync(opt.model) || !fs.statSync(opt.model).isFile()) fail(`model file not found: ${opt.model}`);
  let dataDir = opt.testData;
  if (!fs.existsSync(dataDir) || !fs.statSync(dataDir).isDirectory()) fail(`test data directory not found: ${dataDir}`);

  let inFiles, outFiles;
  try {
    inFiles = listPb(dataDir, 'input');
    outFiles = listPb(dataDir, 'output');
    if (!inFiles.length && !outFiles.length && fs.existsSync(path.join(dataDir, 'test_data_set_0'))) {
      dataDir = path.join(dataDir, 'test_data_set_0');
      inFiles = listPb(dataDir, 'input');
      outFiles = listPb(dataDir, 'output');
    }
  } catch (e) { fail(e.message); }

  // Session
  try { ort.env.logLevel = 'error'; } catch (_) { /* older versions */ }
  const sessOpts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
  let session;
  const tLoad0 = process.hrtime.bigint();
  try {
    session = await ort.InferenceSession.create(path.resolve(opt.model), sessOpts);
  } catch (e) {
    fail(`failed to load model ${opt.model}: ${e.message}`);
  }
  const loadMs = Number(process.hrtime.bigint() - tLoad0) / 1e6;

  const inNames = session.inputNames, outNames = session.outputNames;
  if (inFiles.length !== inNames.length) {
    fail(`model has ${inNames.length} input(s) [${inNames.join(', ')}] but ${dataDir} has ${inFiles.length} input_N.pb file(s)`);
  }
  if (outFiles.length > outNames.length) {
    fail(`model has ${outNames.length} output(s) but ${dataDir} has ${outFiles.length} output_N.pb file(s)`);
  }
  // Only tensors are supported (no sequence / optional / map values).
  const nonTensor = (meta, names, kind) => {
    if (!Array.isArray(meta)) return;
    meta.forEach((m, i) => {
      if (m && m.isTensor === false) fail(`${kind} ${i} '${names[i]}' is not a tensor (sequence/optional/map values are not supported)`);
    });
  };
  nonTensor(session.inputMetadata, inNames, 'model input');
  nonTensor(session.outputMetadata, outNames, 'model output');

  const readTensor = (f) => {
    try { return decodeTensor(fs.readFileSync(f), f); } catch (e) { fail(e.message); }
  };
  const inputs = inFiles.map(readTensor);
  const expected = outFiles.map(readTensor);
  const feeds = {};
  try {
    inputs.forEach((t, i) => { feeds[inNames[i]] = new ort.Tensor(t.type, t.data, t.dims); });
  } catch (e) {
    fail(`cannot create input tensor: ${e.message}`);
  }

  // Runs
  const times = [];
  let results;
  for (let k = 0; k < opt.warmup + opt.repeat; k++) {
    const t0 = process.hrtime.bigint();
    try {
      results = await session.run(feeds);
    } catch (e) {
      fail(`inference failed: ${e.message}`);
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (k >= opt.warmup) times.push(dt);
  }
  const outs = outNames.map((n) => {
    const v = results[n];
    if (!v || v.data === undefined || v.dims === undefined) fail(`output '${n}' is not a tensor (sequence/map outputs are not supported)`);
    return { name: n, type: v.type, dims: Array.from(v.dims, Number), data: v.data };
  });

  // Write outputs
  if (opt.out) {
    try {
      fs.mkdirSync(opt.out, { recursive: true });
      outs.forEach((o, i) => fs.writeFileSync(path.join(opt.out, `output_${i}.pb`), encodeTensor(o.name, o.type, o.dims, o.data)));
    } catch (e) {
      fail(`cannot write outputs to ${opt.out}: ${e.message}`);
    }
  }

  // Compare
  let pass = true, maxAbs = null, maxRel = null;
  const outReport = outs.map((o, i) => {
    const r = { name: o.name, dtype: o.type, shape: o.dims };
    const e = expected[i];
    if (!e) return r;
    r.checked = true;
    if (e.type !== o.type) {
      r.ok = false; r.error = `dtype ${o.type}, expected ${e.type}`;
    } else if (e.dims.length !== o.dims.length || e.dims.some((d, j) => d !== o.dims[j])) {
      r.ok = false; r.error = `shape [${o.dims}], expected [${e.dims}]`;
    } else {
      const c = compare(o, e, opt.atol, opt.rtol);
      r.max_abs_err = c.maxAbs; r.max_rel_err = c.maxRel; r.mismatches = c.nBad;
      r.ok = c.nBad === 0;
      if (c.firstBad) r.first_mismatch = c.firstBad;
      maxAbs = Math.max(maxAbs ?? 0, c.maxAbs);
      maxRel = Math.max(maxRel ?? 0, c.maxRel);
    }
    if (!r.ok) pass = false;
    return r;
  });

  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const minMs = sorted[0];
  const checked = expected.length > 0;

  if (opt.json) {
    const shapes = { inputs: {}, outputs: {} };
    inputs.forEach((t, i) => { shapes.inputs[inNames[i]] = t.dims; });
    outs.forEach((o) => { shapes.outputs[o.name] = o.dims; });
    const j = {
      model: opt.model,
      test_data: dataDir,
      ort_version: version,
      threads: opt.threads,
      inter_op_threads: 1,
      warmup: opt.warmup,
      repeat: opt.repeat,
      shapes,
      load_ms: msRound(loadMs),
      min_ms: msRound(minMs),
      median_ms: msRound(median),
      mean_ms: msRound(times.reduce((a, b) => a + b, 0) / times.length),
      max_ms: msRound(sorted[sorted.length - 1]),
      checked,
      atol: opt.atol,
      rtol: opt.rtol,
      max_abs_err: jsonNum(maxAbs),
      max_rel_err: jsonNum(maxRel),
      pass,
      inputs: inputs.map((t, i) => ({ name: inNames[i], dtype: t.type, shape: t.dims })),
      outputs: outReport.map((r) => ({
        ...r,
        ...(r.max_abs_err !== undefined ? { max_abs_err: jsonNum(r.max_abs_err), max_rel_err: jsonNum(r.max_rel_err) } : {}),
      })),
    };
    process.stdout.write(JSON.stringify(j) + '\n');
  } else {
    const L = [];
    L.push(`model ${opt.model} (onnxruntime-node ${version}, ${opt.threads} intra-op thread${opt.threads > 1 ? 's' : ''})`);
    inputs.forEach((t, i) => L.push(`  input  ${i} ${inNames[i]}: ${t.type} [${t.dims.join(',')}]`));
    outReport.forEach((r, i) => {
      let s = `  output ${i} ${r.name}: ${r.dtype} [${r.shape.join(',')}]`;
      if (r.checked) {
        if (r.error) s += `  FAIL: ${r.error}`;
        else {
          s += `  max_abs_err=${fmt(r.max_abs_err)} max_rel_err=${fmt(r.max_rel_err)}`;
          s += r.ok ? '  OK' : `  FAIL: ${r.mismatches} element(s) beyond atol=${opt.atol} rtol=${opt.rtol}` +
            ` (first at flat index ${r.first_mismatch.index}: got ${r.first_mismatch.actual}, expected ${r.first_mismatch.expected})`;
        }
      }
      L.push(s);
    });
    L.push(`latency: min ${minMs.toFixed(3)} ms, median ${median.toFixed(3)} ms (${opt.repeat} run${opt.repeat > 1 ? 's' : ''}, ${opt.warmup} warmup; load ${loadMs.toFixed(1)} ms)`);
    if (checked) L.push(pass ? 'PASS' : 'FAIL');
    else L.push('no expected outputs (output_N.pb) to check');
    if (opt.out) L.push(`wrote ${outs.length} output(s) to ${opt.out}`);
    process.stdout.write(L.join('\n') + '\n');
  }
  await session.release().catch(() => {});
  process.exitCode = pass ? EXIT_OK : EXIT_MISMATCH;
}

main().catch((e) => fail(`internal error: ${e && e.stack ? e.stack : e}`));
