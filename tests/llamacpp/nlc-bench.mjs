#!/usr/bin/env node
/*
 * nlc-bench.mjs: llama-bench for machines that only have node-llama-cpp.
 *
 * node-llama-cpp ships llama.cpp as a library without its tools, so there
 * is no llama-bench to put in bench_cmd.  This runner takes llama-bench's
 * arguments, drives the same llama.cpp through node-llama-cpp, and prints
 * llama-bench's output formats, so whatever parses llama-bench parses this:
 *
 *   node nlc-bench.mjs -m MODEL [-p N[,N..]] [-n N[,N..]] [-pg PP,TG] [-d N]
 *        [-r R] [-o json|jsonl|csv|md] [-t N] [-ngl N] [-b N] [-ub N]
 *        [-fa on|off|auto] [-ctk T] [-ctv T] [-lm auto|none|mmap] [-mmp 0|1]
 *        [--no-warmup] [--progress] [-v] [--nlc-dir DIR]
 *
 * Defaults are llama-bench's: -p 512 -n 128 -r 5 -b 2048 -ub 512 -o md.
 * What it measures, as llama-bench does (tools/llama-bench/llama-bench.cpp):
 *
 *   * one test per -p value (n_prompt=N, n_gen=0), per -n value (n_prompt=0,
 *     n_gen=N) and per -pg pair; a value of 0 makes no test;
 *   * each test gets its own context of n_prompt + n_gen + n_depth tokens;
 *     a warmup run (the whole prompt; one generated token) unless
 *     --no-warmup; then R timed repetitions, each on a cleared KV cache
 *     (after -d N untimed tokens of depth);
 *   * prompt processing decodes N pseudo-random tokens (BOS first when the
 *     model adds one) in batches of -b; generation decodes one token at a
 *     time, N times;
 *   * samples_ns is each repetition's wall time; samples_ts is
 *     (n_prompt + n_gen) / seconds for each; avg/stddev are their mean and
 *     sample standard deviation.
 *
 * Differences, all from node-llama-cpp: its context uses one size for n_batch
 * and n_ubatch (so -ub is used for both, and prompts are still fed in -b
 * chunks); generation samples the next token greedily (llama-bench decodes
 * random tokens without sampling: the logits are computed either way); the
 * prebuilt is CPU only, so -ngl is reported but no layer is offloaded;
 * build_commit is the llama.cpp release node-llama-cpp reports, suffixed
 * with the node-llama-cpp version, and build_number is 0 (neither the
 * commit nor the number is exposed).
 *
 * The JSON fields are those of llama-bench at the llama.cpp node-llama-cpp
 * 3.22.1 bundles, in its order and types (strings quoted, booleans true or
 * false, averages of tokens/s with six decimals, samples_ts with six
 * significant digits).  Only the result goes to stdout; llama.cpp's log
 * (warnings and errors, everything with -v) and --progress lines go to
 * stderr.  Exit status 1 with "nlc-bench: error: ..." on stderr when the
 * arguments are wrong, the model does not load, or a test fails.
 */

import fs from "node:fs";
import os from "node:os";
import { importNodeLlamaCpp, makeLogger, countParams, die } from "./nlc-common.mjs";

const PROG = "nlc-bench";

const FIELDS = [
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends",
    "model_filename", "model_type", "model_size", "model_n_params", "n_batch",
    "n_ubatch", "n_threads", "cpu_mask", "cpu_strict", "poll",
    "type_k", "type_v", "n_gpu_layers", "n_cpu_moe", "split_mode",
    "main_gpu", "no_kv_offload", "flash_attn", "devices", "tensor_split",
    "tensor_buft_overrides", "load_mode", "lazy_mode",
    "embeddings",
    "no_op_offload", "no_host", "fit_target", "fit_min_ctx",
    "n_prompt", "n_gen", "n_depth",
    "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
];
const INT_FIELDS = new Set(["build_number", "n_batch", "n_ubatch", "n_threads", "poll", "model_size",
    "model_n_params", "n_gpu_layers", "main_gpu", "n_prompt", "n_gen", "n_depth", "avg_ns",
    "stddev_ns", "no_op_offload", "n_cpu_moe", "fit_target", "fit_min_ctx", "flash_attn"]);
const BOOL_FIELDS = new Set(["no_kv_offload", "cpu_strict", "embeddings", "no_host"]);
const FLOAT_FIELDS = new Set(["avg_ts", "stddev_ts"]);

const KV_TYPES = { f16: "F16", f32: "F32", bf16: "BF16", q8_0: "Q8_0", q4_0: "Q4_0", q4_1: "Q4_1",
    q5_0: "Q5_0", q5_1: "Q5_1", iq4_nl: "IQ4_NL" };

function usage() {
    process.stderr.write(
        "usage: nlc-bench -m MODEL [-p N[,N..]] [-n N[,N..]] [-pg PP,TG] [-d N] [-r R]\n" +
        "                 [-o json|jsonl|csv|md] [-t N] [-ngl N] [-b N] [-ub N] [-fa on|off|auto]\n" +
        "                 [-ctk TYPE] [-ctv TYPE] [-lm auto|none|mmap] [-mmp 0|1]\n" +
        "                 [--no-warmup] [--progress] [-v] [--nlc-dir DIR]\n" +
        "llama-bench's arguments and output, run with node-llama-cpp's llama.cpp (CPU)\n");
}

function intList(opt, s, min) {
    const out = [];
    for (const part of s.split(",")) {
        if (!/^-?\d+$/.test(part.trim()))
            die(PROG, `invalid value '${s}' for ${opt}: expected integers separated by ','`);
        const n = Number(part);
        if (n < min)
            die(PROG, `invalid value '${s}' for ${opt}: ${n} is below ${min}`);
        out.push(n);
    }
    return out;
}

function oneInt(opt, s, min) {
    const l = intList(opt, s, min);
    if (l.length !== 1)
        die(PROG, `${opt} takes one value here, not '${s}'`);
    return l[0];
}

function parseArgs(argv) {
    const a = {
        model: null, nPrompt: [], nGen: [], nPg: [], nDepth: 0, reps: 5, output: "md",
        threads: typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length,
        ngl: -1, nBatch: 2048, nUbatch: 512, fa: -1, typeK: "f16", typeV: "f16", loadMode: "auto",
        warmup: true, progress: false, verbose: false, nlcDir: null,
    };
    let sawP = false;
    let sawN = false;
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => {
            if (i + 1 >= argv.length)
                die(PROG, `option '${k}' needs a value`);
            return argv[++i];
        };
        switch (k) {
        case "-h": case "--help": usage(); process.exit(0); break;
        case "-m": case "--model":
            if (a.model !== null)
                die(PROG, "only one -m model per run");
            a.model = v();
            break;
        case "-p": case "--n-prompt": a.nPrompt.push(...intList(k, v(), 0)); sawP = true; break;
        case "-n": case "--n-gen": a.nGen.push(...intList(k, v(), 0)); sawN = true; break;
        case "-pg": {
            const l = intList(k, v(), 0);
            if (l.length !== 2)
                die(PROG, "-pg takes PP,TG");
            a.nPg.push(l);
            break;
        }
        case "-d": case "--n-depth": a.nDepth = oneInt(k, v(), 0); break;
        case "-r": case "--repetitions": a.reps = oneInt(k, v(), 1); break;
        case "-o": case "--output": {
            const o = v();
            if (!["json", "jsonl", "csv", "md"].includes(o))
                die(PROG, `output format '${o}' is not supported: use json, jsonl, csv or md`);
            a.output = o;
            break;
        }
        case "-t": case "--threads": a.threads = oneInt(k, v(), 1); break;
        case "-ngl": case "--n-gpu-layers": a.ngl = oneInt(k, v(), -1); break;
        case "-b": case "--batch-size": a.nBatch = oneInt(k, v(), 1); break;
        case "-ub": case "--ubatch-size": a.nUbatch = oneInt(k, v(), 1); break;
        case "-fa": case "--flash-attn": {
            const f = v();
            const map = { on: 1, off: 0, auto: -1, "1": 1, "0": 0, "-1": -1 };
            if (!(f in map))
                die(PROG, `invalid value '${f}' for ${k}: use on, off or auto`);
            a.fa = map[f];
            break;
        }
        case "-ctk": case "--cache-type-k": case "-ctv": case "--cache-type-v": {
            const t = v();
            if (!(t in KV_TYPES))
                die(PROG, `invalid cache type '${t}' for ${k}: use ${Object.keys(KV_TYPES).join(", ")}`);
            if (k === "-ctk" || k === "--cache-type-k") a.typeK = t; else a.typeV = t;
            break;
        }
        case "-lm": case "--load-mode": {
            const m = v();
            if (!["auto", "none", "mmap"].includes(m))
                die(PROG, `load mode '${m}' is not supported here: use auto, none or mmap`);
            a.loadMode = m;
            break;
        }
        case "-mmp": case "--mmap": {
            const m = oneInt(k, v(), 0);
            a.loadMode = m ? "mmap" : "none";
            break;
        }
        case "--no-warmup": a.warmup = false; break;
        case "--progress": a.progress = true; break;
        case "-v": case "--verbose": a.verbose = true; break;
        case "--nlc-dir": a.nlcDir = v(); break;
        default:
            usage();
            die(PROG, `invalid parameter for argument: ${k}`);
        }
    }
    if (!a.model)
        die(PROG, "no model: pass -m MODEL");
    if (!sawP) a.nPrompt = [512];
    if (!sawN) a.nGen = [128];
    const tests = [];
    for (const p of a.nPrompt) if (p > 0) tests.push([p, 0]);
    for (const n of a.nGen) if (n > 0) tests.push([0, n]);
    for (const [p, n] of a.nPg) if (p > 0 || n > 0) tests.push([p, n]);
    if (tests.length === 0)
        die(PROG, "nothing to run: every -p, -n and -pg value is 0");
    a.tests = tests;
    return a;
}

/* std::rand() stand-in: a fixed-seed LCG, so every run feeds the same tokens */
function makeRand(seed) {
    let s = seed >>> 0;
    return () => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return s >>> 1;
    };
}

function mean(v) {
    return v.length ? v.reduce((x, y) => x + y, 0) / v.length : 0;
}

/* llama-bench's stdev: sqrt(sum(x^2)/(n-1) - mean^2*n/(n-1)), 0 for n <= 1 */
function stdev(v, m) {
    const n = v.length;
    if (n <= 1)
        return 0;
    const sq = v.reduce((x, y) => x + y * y, 0);
    const r = sq / (n - 1) - m * m * n / (n - 1);
    return r > 0 ? Math.sqrt(r) : 0;
}

/* C++ ostream's default for double: %g with 6 significant digits */
function fmtG(x) {
    if (!Number.isFinite(x))
        return Number.isNaN(x) ? "nan" : (x > 0 ? "inf" : "-inf");
    if (x === 0)
        return "0";
    const [mant, expStr] = x.toExponential(5).split("e");
    const e = Number(expStr);
    const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
    if (e < -4 || e >= 6)
        return `${strip(mant)}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
    return strip(x.toFixed(5 - e));
}

function escapeJson(s) {
    let out = "";
    for (const ch of String(s)) {
        const c = ch.codePointAt(0);
        if (ch === "\"") out += "\\\"";
        else if (ch === "\\") out += "\\\\";
        else if (c <= 0x1f) out += "\\u" + c.toString(16).padStart(4, "0");
        else out += ch;
    }
    return out;
}

function jsonValue(field, value) {
    if (INT_FIELDS.has(field)) return String(value);
    if (BOOL_FIELDS.has(field)) return value ? "true" : "false";
    if (FLOAT_FIELDS.has(field)) return Number(value).toFixed(6);
    return `"${escapeJson(value)}"`;
}

function csvValue(field, value) {
    let s;
    if (BOOL_FIELDS.has(field)) s = value ? "1" : "0";
    else if (FLOAT_FIELDS.has(field)) s = Number(value).toFixed(6);
    else s = String(value);
    return `"${s.replace(/"/g, "\"\"")}"`;
}

function printJson(results) {
    const parts = results.map((r) => {
        let s = "  {\n";
        for (const f of FIELDS)
            s += `    "${f}": ${jsonValue(f, r[f])},\n`;
        s += `    "samples_ns": [ ${r.samples_ns.join(", ")} ],\n`;
        s += `    "samples_ts": [ ${r.samples_ts.map(fmtG).join(", ")} ]\n`;
        return s + "  }";
    });
    process.stdout.write("[\n" + parts.join(",\n") + "\n]\n");
}

function printJsonl(results) {
    for (const r of results) {
        let s = "{";
        for (const f of FIELDS)
            s += `"${f}": ${jsonValue(f, r[f])}, `;
        s += `"samples_ns": [ ${r.samples_ns.join(", ")} ],`;
        s += `"samples_ts": [ ${r.samples_ts.map(fmtG).join(", ")} ]`;
        process.stdout.write(s + "}\n");
    }
}

function printCsv(results) {
    process.stdout.write(FIELDS.join(",") + "\n");
    for (const r of results)
        process.stdout.write(FIELDS.map((f) => csvValue(f, r[f])).join(",") + "\n");
}

function humanSize(b) {
    return b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(2)} GiB` : `${(b / 1024 ** 2).toFixed(2)} MiB`;
}

function humanParams(n) {
    if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
    return `${(n / 1e3).toFixed(2)} K`;
}

function printMd(results) {
    const rows = [["model", "size", "params", "backend", "threads", "test", "t/s"]];
    for (const r of results) {
        let test = r.n_prompt > 0 && r.n_gen === 0 ? `pp${r.n_prompt}`
            : r.n_gen > 0 && r.n_prompt === 0 ? `tg${r.n_gen}` : `pp${r.n_prompt}+tg${r.n_gen}`;
        if (r.n_depth > 0)
            test += ` @ d${r.n_depth}`;
        rows.push([r.model_type, humanSize(r.model_size), humanParams(r.model_n_params), r.backends,
            String(r.n_threads), test, `${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)}`]);
    }
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const line = (r) => "| " + r.map((c, i) => (i >= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join(" | ") + " |";
    let out = line(rows[0]) + "\n";
    out += "| " + w.map((n, i) => (i >= 4 ? "-".repeat(n - 1) + ":" : "-".repeat(n))).join(" | ") + " |\n";
    for (const r of rows.slice(1))
        out += line(r) + "\n";
    process.stdout.write(out + "\n");
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    try {
        fs.accessSync(a.model, fs.constants.R_OK);
    } catch (e) {
        die(PROG, `cannot read model '${a.model}': ${e.code ?? e.message}`);
    }
    const { nlc, version } = await importNodeLlamaCpp(a.nlcDir);
    const log = makeLogger(true);
    const progress = (msg) => { if (a.progress) process.stderr.write(`${PROG}: ${msg}\n`); };

    const llama = await nlc.getLlama({ gpu: false, build: "never", maxThreads: a.threads,
        logLevel: a.verbose ? nlc.LlamaLogLevel.info : nlc.LlamaLogLevel.warn,
        logger: log.logger, progressLogs: false });
    let model;
    try {
        const opts = { modelPath: a.model, gpuLayers: 0 };
        if (a.loadMode !== "auto")
            opts.useMmap = a.loadMode === "mmap";
        model = await llama.loadModel(opts);
    } catch (e) {
        die(PROG, `failed to load model '${a.model}': ${e?.message ?? e}`);
    }
    const info = model.fileInfo;
    const nVocab = info.metadata?.tokenizer?.ggml?.tokens?.length;
    if (!nVocab)
        die(PROG, `model '${a.model}' has no tokenizer.ggml.tokens: cannot make tokens to feed it`);
    const bos = model.tokens.bos != null && model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    const common = {
        build_commit: `${llama.llamaCppRelease.release}+node-llama-cpp.${version}`,
        build_number: 0,
        cpu_info: os.cpus()[0]?.model?.trim() ?? "",
        gpu_info: "",
        backends: "CPU",
        model_filename: a.model,
        model_type: model.typeDescription,
        model_size: model.size,
        model_n_params: countParams(info),
        n_batch: a.nBatch,
        n_ubatch: a.nUbatch,
        n_threads: a.threads,
        cpu_mask: "0x0",
        cpu_strict: false,
        poll: 50,
        type_k: a.typeK,
        type_v: a.typeV,
        n_gpu_layers: a.ngl,
        n_cpu_moe: 0,
        split_mode: "layer",
        main_gpu: 0,
        no_kv_offload: false,
        flash_attn: a.fa,
        devices: "auto",
        tensor_split: "0.00",
        tensor_buft_overrides: "none",
        load_mode: a.loadMode,
        lazy_mode: "auto",
        embeddings: false,
        no_op_offload: 0,
        no_host: false,
        fit_target: 0,
        fit_min_ctx: 0,
    };

    const rand = makeRand(1);
    const promptTokens = (n) => {
        const t = [];
        for (let i = 0; i < n; i++)
            t.push(i === 0 && bos !== null ? bos : rand() % nVocab);
        return t;
    };
    const runPrompt = async (seq, n) => {
        const toks = promptTokens(n);
        for (let i = 0; i < toks.length; i += a.nBatch)
            await seq.evaluateWithoutGeneratingNewTokens(toks.slice(i, i + a.nBatch));
    };
    const runGen = async (seq, n) => {
        const first = bos !== null ? bos : rand() % nVocab;
        let got = 0;
        for await (const tok of seq.evaluate([first], { temperature: 0 })) {
            void tok;
            if (++got >= n)
                break;
        }
    };

    const results = [];
    for (const [ti, [nPrompt, nGen]] of a.tests.entries()) {
        const label = `benchmark ${ti + 1}/${a.tests.length}`;
        const ctxOpts = { contextSize: nPrompt + nGen + a.nDepth + 1, batchSize: a.nUbatch,
            threads: a.threads, sequences: 1, ignoreMemorySafetyChecks: true,
            experimentalKvCacheKeyType: KV_TYPES[a.typeK], experimentalKvCacheValueType: KV_TYPES[a.typeV] };
        if (a.fa !== -1)
            ctxOpts.flashAttention = a.fa === 1;
        let ctx;
        try {
            ctx = await model.createContext(ctxOpts);
        } catch (e) {
            die(PROG, `failed to create a context of ${ctxOpts.contextSize} tokens: ${e?.message ?? e}`);
        }
        const seq = ctx.getSequence();
        const testTime = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        if (a.warmup) {
            if (nPrompt > 0) {
                progress(`${label}: warmup prompt run`);
                await runPrompt(seq, nPrompt);
                await seq.clearHistory();
            }
            if (nGen > 0) {
                progress(`${label}: warmup generation run`);
                await runGen(seq, 1);
                await seq.clearHistory();
            }
        }
        const samples = [];
        for (let r = 0; r < a.reps; r++) {
            await seq.clearHistory();
            if (a.nDepth > 0) {
                progress(`${label}: depth run ${r + 1}/${a.reps}`);
                await runPrompt(seq, a.nDepth);
            }
            const t0 = process.hrtime.bigint();
            if (nPrompt > 0) {
                progress(`${label}: prompt run ${r + 1}/${a.reps}`);
                await runPrompt(seq, nPrompt);
            }
            if (nGen > 0) {
                progress(`${label}: generation run ${r + 1}/${a.reps}`);
                await runGen(seq, nGen);
            }
            samples.push(Number(process.hrtime.bigint() - t0));
        }
        await ctx.dispose();
        const nTok = nPrompt + nGen;
        const ts = samples.map((ns) => 1e9 * nTok / ns);
        const avgNs = Math.floor(mean(samples));
        const avgTs = mean(ts);
        results.push({
            ...common, n_prompt: nPrompt, n_gen: nGen, n_depth: a.nDepth, test_time: testTime,
            avg_ns: avgNs, stddev_ns: Math.floor(stdev(samples, avgNs)),
            avg_ts: avgTs, stddev_ts: stdev(ts, avgTs), samples_ns: samples, samples_ts: ts,
        });
    }
    await model.dispose();
    await llama.dispose();

    if (a.output === "json") printJson(results);
    else if (a.output === "jsonl") printJsonl(results);
    else if (a.output === "csv") printCsv(results);
    else printMd(results);
}

main().catch((e) => die(PROG, String(e?.stack ?? e)));
