/*
 * nlc-common.mjs: finding node-llama-cpp and talking to llama.cpp's log,
 * shared by nlc-load.mjs and nlc-bench.mjs.
 *
 * node-llama-cpp is never installed into the repository: nlc_setup.py puts
 * it (and a copy of these scripts) into BUILD/llamacpp-node.  A script finds
 * it, first match wins, in: the directory given by --nlc-dir, the
 * NODE_LLAMA_CPP_DIR environment variable, the script's own directory (the
 * copy beside node_modules), and $MF_BUILD_DIR/llamacpp-node.  Each of those
 * is a directory holding node_modules/node-llama-cpp.
 *
 * llama.cpp's log goes to stderr, one line per message, prefixed with its
 * level; stdout is left to the script's result.  The lines are also kept so
 * the caller can read what llama.cpp itself reported (tensor count, load
 * mode, buffer sizes).
 */

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export async function importNodeLlamaCpp(dirArg) {
    const tried = [];
    const dirs = [dirArg, process.env.NODE_LLAMA_CPP_DIR, HERE,
        process.env.MF_BUILD_DIR ? path.join(process.env.MF_BUILD_DIR, "llamacpp-node") : null];
    for (const d of dirs) {
        if (!d)
            continue;
        const pkgDir = path.join(path.resolve(d), "node_modules", "node-llama-cpp");
        const entry = path.join(pkgDir, "dist", "index.js");
        tried.push(pkgDir);
        if (!fs.existsSync(entry))
            continue;
        const mod = await import(pathToFileURL(entry).href);
        const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
        return { nlc: mod, version: pkg.version, dir: pkgDir };
    }
    throw new Error(`node-llama-cpp is not installed in any of: ${tried.join(", ")}; ` +
        "run the llamacpp integration test once (it installs it) or pass --nlc-dir DIR");
}

export function makeLogger(echo = true) {
    /* node-llama-cpp hands over one llama.cpp message per call, usually
     * one line without its newline */
    const lines = [];
    const logger = (level, message) => {
        for (const l of String(message).split("\n")) {
            if (l.length === 0)
                continue;
            lines.push(l);
            if (echo)
                process.stderr.write(`[llama.cpp ${level}] ${l}\n`);
        }
    };
    return { logger, lines };
}

/* What llama.cpp reported about the model it loaded. */
export function parseLoadLog(lines) {
    const out = { kv_pairs: null, tensors: null, gguf_version: null, additional_ggufs: 0,
        load_mode: null, file_size: null, model_params: null, model_buffers_mib: {} };
    for (const l of lines) {
        let r;
        if ((r = /loaded meta data with (\d+) key-value pairs and (\d+) tensors from .* \(version (.+)\)/.exec(l))) {
            out.kv_pairs = Number(r[1]);
            out.tensors = Number(r[2]);
            out.gguf_version = r[3];
        } else if ((r = /additional (\d+) GGUFs metadata loaded/.exec(l))) {
            out.additional_ggufs = Number(r[1]);
        } else if ((r = /load_tensors: loading model tensors.*\(load_mode = ([^)]+)\)/.exec(l))) {
            out.load_mode = r[1];
        } else if ((r = /print_info: file size\s+= (.+?)\s*$/.exec(l))) {
            out.file_size = r[1];
        } else if ((r = /print_info: model params\s+= (.+?)\s*$/.exec(l))) {
            out.model_params = r[1];
        } else if ((r = /load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB/.exec(l))) {
            /* one line per mapped file of a split model: add them up */
            const prev = out.model_buffers_mib[r[1]] ?? 0;
            out.model_buffers_mib[r[1]] = Math.round((prev + Number(r[2])) * 100) / 100;
        }
    }
    return out;
}

/* llama_model_n_params: every element of every tensor the model holds. */
export function countParams(fileInfo) {
    let n = 0n;
    for (const t of fileInfo.fullTensorInfo ?? fileInfo.tensorInfo ?? [])
        n += t.dimensions.reduce((a, d) => a * BigInt(d), 1n);
    return Number(n);
}

export function die(prog, message, code = 1) {
    process.stderr.write(`${prog}: error: ${message}\n`);
    process.exit(code);
}
