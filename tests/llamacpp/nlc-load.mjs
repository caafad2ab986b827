#!/usr/bin/env node
/*
 * nlc-load.mjs: load a GGUF model with llama.cpp (node-llama-cpp's prebuilt
 * CPU build), create a context, evaluate a prompt and generate a few tokens.
 * The integration test runs it on model.gguf inside a modelfs mount.
 *
 *   node nlc-load.mjs --model PATH [--mmap on|off] [--ctx N] [--gen N]
 *                     [--prompt TEXT] [--threads N] [--nlc-dir DIR]
 *
 * Prints one JSON object on stdout:
 *   node_llama_cpp, llama_cpp_release,
 *   model{path, use_mmap, size, type, tensor_count, spliced_parts, n_params,
 *         n_vocab, train_ctx},
 *   llama_log{kv_pairs, tensors, gguf_version, additional_ggufs, load_mode,
 *             file_size, model_params, model_buffers_mib{BUFT: MiB}}
 *             (what llama.cpp itself logged while loading),
 *   eval{prompt_tokens[], generated[], text}, seconds{load, context, eval}.
 * llama.cpp's log goes to stderr.  Exit status 1, with a message on stderr,
 * when anything fails.  Zero-weight models produce garbage tokens; what
 * matters is that llama.cpp read the whole model through the path given.
 */

import { importNodeLlamaCpp, makeLogger, parseLoadLog, countParams, die } from "./nlc-common.mjs";

const PROG = "nlc-load";

function parseArgs(argv) {
    const a = { model: null, mmap: true, ctx: 256, gen: 8, prompt: "Hello from modelfs", threads: 2, nlcDir: null };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => {
            if (i + 1 >= argv.length)
                die(PROG, `option '${k}' needs a value`);
            return argv[++i];
        };
        if (k === "--model") a.model = v();
        else if (k === "--mmap") {
            const m = v();
            if (m !== "on" && m !== "off")
                die(PROG, `--mmap '${m}': use on or off`);
            a.mmap = m === "on";
        } else if (k === "--ctx") a.ctx = Number(v());
        else if (k === "--gen") a.gen = Number(v());
        else if (k === "--prompt") a.prompt = v();
        else if (k === "--threads") a.threads = Number(v());
        else if (k === "--nlc-dir") a.nlcDir = v();
        else die(PROG, `unknown argument '${k}'`);
    }
    if (!a.model)
        die(PROG, "no model: pass --model PATH");
    for (const k of ["ctx", "gen", "threads"])
        if (!Number.isInteger(a[k]) || a[k] < 1)
            die(PROG, `--${k} must be a positive integer`);
    return a;
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const { nlc, version } = await importNodeLlamaCpp(a.nlcDir);
    const log = makeLogger(true);
    const t0 = performance.now();
    const llama = await nlc.getLlama({ gpu: false, build: "never", maxThreads: a.threads,
        logLevel: nlc.LlamaLogLevel.info, logger: log.logger, progressLogs: false });
    const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0, useMmap: a.mmap });
    const t1 = performance.now();
    const ctx = await model.createContext({ contextSize: a.ctx, threads: a.threads });
    const seq = ctx.getSequence();
    const t2 = performance.now();
    const prompt = model.tokenize(a.prompt);
    if (model.tokens.bos != null && model.tokens.shouldPrependBosToken)
        prompt.unshift(model.tokens.bos);
    const generated = [];
    if (a.gen > 0) {
        for await (const tok of seq.evaluate(prompt, { temperature: 0 })) {
            generated.push(tok);
            if (generated.length >= a.gen)
                break;
        }
    }
    const t3 = performance.now();
    const info = model.fileInfo;
    const result = {
        node_llama_cpp: version,
        llama_cpp_release: llama.llamaCppRelease.release,
        model: {
            path: a.model,
            use_mmap: model.useMmap,
            size: model.size,
            type: model.typeDescription,
            tensor_count: Number(info.totalTensorCount),
            spliced_parts: info.splicedParts,
            n_params: countParams(info),
            n_vocab: info.metadata?.tokenizer?.ggml?.tokens?.length ?? null,
            train_ctx: model.trainContextSize,
        },
        llama_log: null,
        eval: { prompt_tokens: prompt, generated, text: model.detokenize(generated) },
        seconds: { load: (t1 - t0) / 1000, context: (t2 - t1) / 1000, eval: (t3 - t2) / 1000 },
    };
    await ctx.dispose();
    await model.dispose();
    await llama.dispose();
    result.llama_log = parseLoadLog(log.lines);
    process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => die(PROG, String(e?.stack ?? e)));
