#!/usr/bin/env node
/*
 * measure.mjs: what llama.cpp really allocates, measured through node-llama-cpp.
 *
 * For each case of the plan (an architecture spec, a file type, a list of
 * context configurations) this script writes a zero-weight GGUF replica with
 * tests/gguf/replica.py, then runs one worker process (this file with
 * --worker) that loads the replica once with node-llama-cpp's prebuilt CPU
 * llama.cpp (gpuLayers 0, mmap) and creates one context per configuration.
 *
 * The worker runs node-llama-cpp in debug mode: llama.cpp's own log then goes
 * straight to stderr, synchronously, instead of through node-llama-cpp's
 * asynchronous JS logger (which drops lines that arrive while one of its
 * simulations has lowered the log level).  The worker's stdout and stderr are
 * the same file, and it writes "@@GT <event> <json>" markers between steps,
 * so the parent can cut the log into one section per context and read the
 * buffer sizes llama.cpp prints: "<buft> model buffer size", "CPU KV buffer
 * size" and the per-cache "llama_kv_cache: size = ..." lines (two caches
 * for sliding-window models), "CPU output buffer size", "CPU compute buffer
 * size", the llama_context parameters and the graph size.
 *
 * Beside llama.cpp's numbers each row carries node-llama-cpp's own estimate
 * for the same context: "simulated" (estimateContextResourceRequirementsV2,
 * a no-alloc llama.cpp dry run, the number it logs as "Simulating context
 * resource usage") and "heuristic" (the deprecated formula,
 * estimateContextResourceRequirements).  Both cover the context only (KV,
 * compute, output), not the weights.
 *
 * Memory: KV buffers are cleared, so they cost real RAM; compute buffers are
 * allocated but never touched.  Before each context the worker asks for the
 * flash-attention dry run of the same size (KV + a small compute buffer) and
 * skips the context when that exceeds MemAvailable less a margin.
 *
 * Usage: see README.md.  Rows go to nodellama-cpu.jsonl (the format of
 * ../shared/fixtures/groundtruth/llamacpp-cpu.jsonl plus the fields listed in
 * the README).
 */

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TESTS = path.resolve(HERE, "../..");
const REPLICA_PY = path.join(TESTS, "gguf", "replica.py");
const SPECS_LOCAL = path.join(HERE, "specs");
const SPECS_FIXTURE = process.env.MF_FIXTURES_DIR
    ? path.join(process.env.MF_FIXTURES_DIR, "groundtruth")
    : path.resolve(TESTS, "../../shared/fixtures/groundtruth");

const NODE_LLAMA_CPP_VERSION = "3.22.1";
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

const CTX_FULL = [512, 4096, 8192, 16384, 32768, 65536, 131072];
const CTX_SHORT = [512, 8192, 32768];
/* (KV cache type, flash attention) pairs.  llama.cpp refuses a quantized V
 * cache without flash attention ("quantized V cache requires flash_attn");
 * ALL_KV_FA keeps that pair to record the refusal, on the tiny model only. */
const KV_FA = [["f16", true], ["f16", false], ["q8_0", true]];
const ALL_KV_FA = [["f16", true], ["f16", false], ["q8_0", true], ["q8_0", false]];

/* The matrix.  "full" is what nodellama-cpu.jsonl holds; "quick" checks the
 * machinery in a minute. */
function plan(name) {
    const matrix = (ctx, kvfa = KV_FA) => {
        const out = [];
        for (const [kv, fa] of kvfa)
            for (const c of ctx)
                out.push({ ctx: c, kv, fa });
        return out;
    };
    if (name === "quick") {
        return [
            { spec: "tiny", quant: "F16", configs: matrix([512, 4096], ALL_KV_FA) },
            { spec: "llama-3.1-8b", quant: "Q4_K_M", configs: matrix([8192], [["f16", true]]) },
            { spec: "gemma-3-4b", quant: "Q4_K_M", configs: matrix([8192], [["f16", true]]) },
        ];
    }
    const one = matrix([8192], [["f16", true], ["f16", false]]);
    return [
        { spec: "tiny", quant: "F16", configs: matrix([512, 4096, 8192, 32768], ALL_KV_FA) },
        { spec: "llama-3.1-8b", quant: "Q4_K_M", configs: matrix(CTX_FULL) },
        { spec: "qwen2.5-7b", quant: "Q4_K_M", configs: matrix(CTX_FULL) },
        { spec: "gemma-3-4b", quant: "Q4_K_M", configs: matrix(CTX_FULL) },
        { spec: "qwen3-30b-a3b", quant: "Q4_K_M", configs: matrix(CTX_FULL) },
        { spec: "deepseek-v2-lite", quant: "Q4_K_M", configs: matrix(CTX_FULL) },
        { spec: "qwen3-8b", quant: "Q4_K_M", configs: matrix(CTX_SHORT) },
        { spec: "phi-4", quant: "Q4_K_M", configs: matrix(CTX_SHORT) },
        /* Q8_0 weights are not repacked, so they leave room for the largest
         * KV caches that the repacked Q4_K_M copies do not */
        { spec: "llama-3.1-8b", quant: "Q8_0", configs: [...one, { ctx: 131072, kv: "f16", fa: false }] },
        { spec: "llama-3.1-8b", quant: "F16", configs: one },
        { spec: "qwen2.5-7b", quant: "Q8_0", configs: one },
        { spec: "gemma-3-4b", quant: "Q8_0", configs: one },
        { spec: "gemma-3-4b", quant: "F16", configs: one },
        { spec: "qwen3-30b-a3b", quant: "Q8_0", configs: [...one, ...matrix([65536, 131072])] },
        { spec: "deepseek-v2-lite", quant: "Q8_0", configs: one },
    ];
}

function parseArgs(argv) {
    const a = {
        buildDir: process.env.GT_BUILD_DIR || "/work/gt-build",
        out: path.join(HERE, "nodellama-cpu.jsonl"),
        plan: "full",
        only: null,
        budget: 1800,
        python: process.env.PYTHON || "python3",
        replicas: null,
        logs: null,
        worker: null,
        merge: false,
        marginMib: 2560,
    };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => argv[++i];
        if (k === "--build-dir") a.buildDir = v();
        else if (k === "--out") a.out = v();
        else if (k === "--plan") a.plan = v();
        else if (k === "--only") a.only = v().split(",");
        else if (k === "--budget") a.budget = Number(v());
        else if (k === "--python") a.python = v();
        else if (k === "--replicas") a.replicas = v();
        else if (k === "--logs") a.logs = v();
        else if (k === "--margin-mib") a.marginMib = Number(v());
        else if (k === "--worker") a.worker = v();
        else if (k === "--merge") a.merge = true;
        else throw new Error(`unknown argument '${k}'`);
    }
    a.replicas ??= path.join(a.buildDir, "replicas");
    a.logs ??= path.join(a.buildDir, "logs");
    return a;
}

function specPath(name) {
    for (const dir of [SPECS_LOCAL, SPECS_FIXTURE]) {
        const p = path.join(dir, name + ".json");
        if (fs.existsSync(p)) return p;
    }
    throw new Error(`no spec '${name}' in ${SPECS_LOCAL} or ${SPECS_FIXTURE}`);
}

/* ---------------------------------------------------------------- worker */

function mark(event, data = {}) {
    process.stdout.write(`@@GT ${event} ${JSON.stringify(data)}\n`);
}

function memAvailableBytes() {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) * 1024 : os.freemem();
}

function withTimeout(promise, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function bytesPair(e) {
    return e == null ? null : { cpu_ram_bytes: e.cpuRam, gpu_vram_bytes: e.gpuVram,
        cpu_ram_mib: Math.round(e.cpuRam / MIB * 100) / 100 };
}

async function worker(job) {
    const nlcEntry = path.join(job.buildDir, "node_modules", "node-llama-cpp", "dist", "index.js");
    const nlc = await import(pathToFileURL(nlcEntry).href);
    const { getLlama, GgmlType } = nlc;
    const llama = await getLlama({ gpu: false, build: "never", debug: true, maxThreads: 2 });
    mark("llama", { release: llama.llamaCppRelease, gpu: llama.gpu, build_type: llama.buildType });

    mark("model-begin", { path: job.file });
    const model = await llama.loadModel({ modelPath: job.file, gpuLayers: 0, useMmap: true });
    const ins = model.fileInsights;
    const modelEst = {
        heuristic: bytesPair(ins.estimateModelResourceRequirements({ gpuLayers: 0, useMmap: true })),
        simulated: bytesPair(await ins.estimateModelResourceRequirementsV2({ gpuLayers: 0, useMmap: true })),
    };
    const swa = ins.swaSize != null && ins.swaSize > 0;
    mark("model-end", { train_ctx: model.trainContextSize, swa_size: ins.swaSize ?? null, estimate: modelEst });

    for (const cfg of job.configs) {
        /* node-llama-cpp asks llama.cpp for n_batch = n_ubatch = batchSize + 1
         * when the model has a sliding window; 511 keeps ubatch at 512 */
        const batchSize = swa ? job.ubatch - 1 : job.ubatch;
        const kvType = cfg.kv === "q8_0" ? GgmlType.Q8_0 : GgmlType.F16;
        const kvName = cfg.kv === "q8_0" ? "Q8_0" : "F16";
        const estArgs = (fa) => ({ contextSize: cfg.ctx, modelGpuLayers: 0, batchSize, sequences: 1,
            flashAttention: fa, kvCacheKeyType: kvType, kvCacheValueType: kvType, useMmap: true });
        const guard = await ins.estimateContextResourceRequirementsV2(estArgs(true));
        const avail = memAvailableBytes();
        if (guard.cpuRam > avail - job.marginMib * MIB) {
            mark("skip", { cfg, reason: `needs ~${Math.round(guard.cpuRam / MIB)} MiB, ${Math.round(avail / MIB)} MiB available` });
            continue;
        }
        const simulated = await ins.estimateContextResourceRequirementsV2(estArgs(cfg.fa));
        const heuristic = ins.estimateContextResourceRequirements({ ...estArgs(cfg.fa), useMmap: undefined });
        mark("ctx-begin", { cfg });
        const t0 = Date.now();
        let ctx = null;
        let error = null;
        try {
            ctx = await withTimeout(model.createContext({
                contextSize: cfg.ctx, batchSize, sequences: 1, threads: 2, flashAttention: cfg.fa,
                experimentalKvCacheKeyType: kvName, experimentalKvCacheValueType: kvName,
                swaFullCache: false, ignoreMemorySafetyChecks: true,
            }), job.ctxTimeoutMs, "createContext");
        } catch (e) {
            error = String(e?.message ?? e);
        }
        mark("ctx-end", { cfg, batch_size: batchSize, ms: Date.now() - t0, error,
            estimate: { simulated: bytesPair(simulated), heuristic: bytesPair(heuristic) } });
        if (error && /timed out/.test(error)) process.exit(3);
        if (ctx) await ctx.dispose();
    }
    await model.dispose();
    await llama.dispose();
    mark("done");
}

/* ---------------------------------------------------------------- parsing */

const num = (s) => Number(s);

function parseModelSection(lines) {
    const m = { buffers: {} };
    for (const l of lines) {
        let r;
        if ((r = /load_backend: loaded CPU backend from .*libggml-cpu-([\w-]+)\.so/.exec(l))) m.cpu_variant = r[1];
        else if ((r = /load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB/.exec(l))) m.buffers["model_" + r[1]] = num(r[2]);
        else if ((r = /print_info: file type\s+= (.+?)\s*$/.exec(l))) m.file_type = r[1];
        else if ((r = /print_info: file size\s+= ([\d.]+) (MiB|GiB) \(([\d.]+) BPW\)/.exec(l))) {
            m.file_size_mib = Math.round(num(r[1]) * (r[2] === "GiB" ? 1024 : 1) * 100) / 100;
            m.bpw = num(r[3]);
        } else if ((r = /print_info: model params\s+= (.+?)\s*$/.exec(l))) m.params = r[1];
        else if ((r = /print_info: n_ctx_train\s+= (\d+)/.exec(l))) m.n_ctx_train = num(r[1]);
        else if ((r = /print_info: arch\s+= (\S+)/.exec(l))) m.arch = r[1];
    }
    return m;
}

function parseContextSection(lines) {
    const c = { buffers: {}, kv_detail: [], params: {}, llama_error: null };
    let part = "main";
    for (const l of lines) {
        let r;
        if ((r = /^llama_context: (n_seq_max|n_ctx|n_ctx_seq|n_batch|n_ubatch|causal_attn|flash_attn|kv_unified|n_outputs_max)\s+= (\S+)/.exec(l))) {
            c.params[r[1]] = r[2];
        } else if ((r = /llama_kv_cache_iswa: creating\s+(non-SWA|SWA) KV cache/.exec(l))) {
            part = r[1];
        } else if ((r = /(\S+)\s+KV buffer size =\s+([\d.]+) MiB/.exec(l))) {
            c.buffers["kv_" + r[1]] = Math.round(((c.buffers["kv_" + r[1]] ?? 0) + num(r[2])) * 100) / 100;
        } else if ((r = /llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)\/(\d+) seqs\), K \((\w+)\):\s+([\d.]+) MiB, V \((\w+)\):\s+([\d.]+) MiB/.exec(l))) {
            c.kv_detail.push({ part, mib: num(r[1]), cells: num(r[2]), layers: num(r[3]),
                k_type: r[6], k_mib: num(r[7]), v_type: r[8], v_mib: num(r[9]) });
        } else if ((r = /(\S+)\s+output buffer size =\s+([\d.]+) MiB/.exec(l))) {
            c.buffers["output_" + r[1]] = num(r[2]);
        } else if ((r = /(\S+) compute buffer size =\s+([\d.]+) MiB/.exec(l))) {
            c.buffers["compute_" + r[1]] = num(r[2]);
        } else if ((r = /graph: nodes = (\d+), splits = (\d+)/.exec(l))) {
            c.params.graph_nodes = num(r[1]);
            c.params.graph_splits = num(r[2]);
        } else if ((r = /^llama_init_from_model: (.+)$/.exec(l))) {
            c.llama_error = r[1];
        } else if ((r = /attn_rot_([kv]) = (\d+)/.exec(l))) {
            c.params["attn_rot_" + r[1]] = num(r[2]);
        }
    }
    return c;
}

function sumPrefix(obj, prefix) {
    let s = 0;
    for (const [k, v] of Object.entries(obj)) if (k.startsWith(prefix)) s += v;
    return Math.round(s * 100) / 100;
}

/* Splits a worker log into the model section and one section per context. */
function parseWorkerLog(text) {
    const out = { model: null, llama: null, model_estimate: null, contexts: [], skips: [], done: false };
    let buf = [];
    let modelLines = [];
    for (const line of text.split("\n")) {
        const r = /^@@GT (\S+) (.*)$/.exec(line);
        if (!r) {
            buf.push(line);
            continue;
        }
        const ev = r[1];
        const data = JSON.parse(r[2]);
        if (ev === "llama") {
            out.llama = data;
            modelLines = buf;
            buf = [];
        } else if (ev === "model-begin") {
            buf = [];
        } else if (ev === "model-end") {
            modelLines = modelLines.concat(buf);
            out.model = parseModelSection(modelLines);
            out.model.train_ctx = data.train_ctx;
            out.model.swa_size = data.swa_size;
            out.model_estimate = data.estimate;
            buf = [];
        } else if (ev === "ctx-begin") {
            buf = [];
        } else if (ev === "ctx-end") {
            out.contexts.push({ ...data, parsed: parseContextSection(buf) });
            buf = [];
        } else if (ev === "skip") {
            out.skips.push(data);
        } else if (ev === "done") {
            out.done = true;
        }
    }
    return out;
}

/* ---------------------------------------------------------------- rows */

function llamaCppBundleCommit(buildDir) {
    const bundle = path.join(buildDir, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
    const r = spawnSync("git", ["bundle", "list-heads", bundle], { encoding: "utf8" });
    const m = /^([0-9a-f]{40}) HEAD/m.exec(r.stdout ?? "");
    return m ? m[1] : null;
}

function makeRow(kase, file, fileBytes, w, c, bundleCommit) {
    const p = c.parsed;
    const b = { ...w.model.buffers, ...p.buffers };
    const totals = {
        model: sumPrefix(w.model.buffers, "model_"),
        kv: sumPrefix(p.buffers, "kv_"),
        compute: sumPrefix(p.buffers, "compute_"),
        output: sumPrefix(p.buffers, "output_"),
    };
    totals.total = Math.round((totals.model + totals.kv + totals.compute + totals.output) * 100) / 100;
    let contextMib = Math.round((totals.kv + totals.compute + totals.output) * 100) / 100;
    if (c.error) {
        /* no context: nothing to compare an estimate with */
        totals.kv = totals.compute = totals.output = totals.total = null;
        contextMib = null;
    }
    const release = w.llama?.release?.release ?? null;
    return {
        model: kase.name,
        spec: kase.spec,
        arch: w.model.arch,
        quant: kase.quant,
        file: path.basename(file),
        file_bytes: fileBytes,
        n_ctx_train: w.model.n_ctx_train,
        ctx: c.cfg.ctx,
        kv_type: c.cfg.kv,
        flash_attn: c.cfg.fa,
        ubatch: p.params.n_ubatch ? Number(p.params.n_ubatch) : null,
        n_parallel: 1,
        repack: "model_CPU_REPACK" in w.model.buffers,
        load_mode: "mmap",
        threads: 2,
        backend: "CPU",
        runner: `node-llama-cpp ${NODE_LLAMA_CPP_VERSION} createContext`,
        rc: c.error ? 1 : 0,
        error: c.error ? (p.llama_error ?? c.error) : undefined,
        llama_cpp_commit: release,
        llama_cpp_release: release,
        llama_cpp_bundle_commit: bundleCommit,
        node_llama_cpp: NODE_LLAMA_CPP_VERSION,
        cpu_variant: w.model.cpu_variant ?? null,
        n_batch_requested: c.batch_size,
        buffers_mib: { ...b, ...totals },
        kv_detail: p.kv_detail,
        context_params: p.params,
        reported_file_type: w.model.file_type,
        reported_file_size_mib: w.model.file_size_mib,
        reported_bpw: w.model.bpw,
        reported_params: w.model.params,
        context_mib: contextMib,
        nodellama_estimate: c.estimate,
        nodellama_model_estimate: w.model_estimate,
        seconds: Math.round(c.ms / 100) / 10,
    };
}

/* Plan order: case, then configuration; rows of other plans go last. */
function sortRows(rows, cases) {
    const key = (r) => {
        const ci = cases.findIndex((k) => k.spec === r.spec && k.quant === r.quant);
        const cfgs = ci < 0 ? [] : cases[ci].configs;
        const fi = cfgs.findIndex((c) => c.ctx === r.ctx && c.kv === r.kv_type && c.fa === r.flash_attn);
        return [ci < 0 ? cases.length : ci, fi < 0 ? cfgs.length : fi];
    };
    rows.sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        return ka[0] - kb[0] || ka[1] - kb[1];
    });
}

function runWorker(args, job, logPath, timeoutMs) {
    return new Promise((resolve) => {
        const fd = fs.openSync(logPath, "w");
        const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--worker", JSON.stringify(job)],
            { stdio: ["ignore", fd, fd] });
        const timer = setTimeout(() => {
            process.stdout.write(`  timeout after ${timeoutMs / 1000} s, killing worker ${child.pid}\n`);
            child.kill("SIGKILL");
        }, timeoutMs);
        child.on("exit", (code, signal) => {
            clearTimeout(timer);
            fs.closeSync(fd);
            resolve({ code, signal });
        });
    });
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    if (args.worker) {
        await worker(JSON.parse(args.worker));
        return;
    }
    fs.mkdirSync(args.replicas, { recursive: true });
    fs.mkdirSync(args.logs, { recursive: true });
    const bundleCommit = llamaCppBundleCommit(args.buildDir);
    const started = Date.now();
    const rows = [];
    const summary = [];
    let cases = plan(args.plan);
    if (args.only) cases = cases.filter((k) => args.only.includes(k.spec) || args.only.includes(`${k.spec}:${k.quant}`));
    for (const kase of cases) {
        const elapsed = (Date.now() - started) / 1000;
        if (elapsed > args.budget) {
            summary.push(`${kase.spec} ${kase.quant}: not run, budget of ${args.budget} s spent`);
            continue;
        }
        const spec = JSON.parse(fs.readFileSync(specPath(kase.spec), "utf8"));
        kase.name = spec.name;
        const file = path.join(args.replicas, `${kase.spec}-${kase.quant}.gguf`);
        const gen = spawnSync(args.python, [REPLICA_PY, "write", specPath(kase.spec), kase.quant.toLowerCase(), file],
            { encoding: "utf8" });
        if (gen.status !== 0) {
            summary.push(`${kase.spec} ${kase.quant}: replica.py failed: ${gen.stderr.trim()}`);
            continue;
        }
        const fileBytes = fs.statSync(file).size;
        const job = { buildDir: args.buildDir, file, configs: kase.configs, ubatch: 512,
            ctxTimeoutMs: 180000, marginMib: args.marginMib };
        const logPath = path.join(args.logs, `${kase.spec}-${kase.quant}.log`);
        const timeoutMs = Math.min(20 * 60, 120 + 30 * kase.configs.length) * 1000;
        process.stdout.write(`${kase.spec} ${kase.quant}: ${kase.configs.length} contexts (log ${logPath})\n`);
        const t0 = Date.now();
        const res = await runWorker(args, job, logPath, timeoutMs);
        const w = parseWorkerLog(fs.readFileSync(logPath, "utf8"));
        let n = 0;
        if (w.model) {
            for (const c of w.contexts) {
                const row = makeRow(kase, file, fileBytes, w, c, bundleCommit);
                const complete = row.rc !== 0 || (row.buffers_mib.kv >= 0 && "compute_CPU" in row.buffers_mib && "output_CPU" in row.buffers_mib);
                if (!complete) row.incomplete_log = true;
                rows.push(row);
                n++;
            }
        }
        const secs = Math.round((Date.now() - t0) / 1000);
        summary.push(`${kase.spec} ${kase.quant}: ${n}/${kase.configs.length} contexts in ${secs} s` +
            (w.skips.length ? `, ${w.skips.length} skipped (${w.skips.map((s) => `${s.cfg.ctx}/${s.cfg.kv}/fa=${s.cfg.fa}`).join(" ")})` : "") +
            (w.done ? "" : `, worker ended early (code ${res.code}, signal ${res.signal})`));
        process.stdout.write(`  ${summary.at(-1)}\n`);
    }
    if (args.merge && fs.existsSync(args.out)) {
        const ran = new Set(cases.map((k) => `${k.spec}:${k.quant}`));
        for (const line of fs.readFileSync(args.out, "utf8").split("\n")) {
            if (!line.trim()) continue;
            const r = JSON.parse(line);
            if (!ran.has(`${r.spec}:${r.quant}`)) rows.push(r);
        }
    }
    sortRows(rows, plan(args.plan));
    fs.writeFileSync(args.out, rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : ""));
    process.stdout.write(`\n${rows.length} rows -> ${args.out} in ${Math.round((Date.now() - started) / 1000)} s\n`);
    for (const s of summary) process.stdout.write(`${s}\n`);
}

main().catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
});
