// Drives wan-video-mcp over stdio with the TypeScript clients hosts embed, as a desktop host does:
// default request options (60 s timeout, no timeout reset on progress) unless a step says otherwise.
//
//   node harness.mjs PLAN.json    (or the plan on stdin)
//
// The plan: {"client": "v1" | "v2", "server": {"command", "args", "env", "cwd"}, "steps": [...]}.
// The report on stdout: {"client", "protocolVersion", "steps": [{op, ...what happened}]}. A step that throws is
// reported with its error (code and message), never fatal: the pytest side asserts on the report.
//
// Steps:
//   {"op": "list"}                                   tools/list (this also arms v1's output-schema validation)
//   {"op": "call", "name", "arguments", "options"}   tools/call; options: timeout, resetTimeoutOnProgress
//   {"op": "follow", "name", "arguments"}            call, then follow each result's next_step text (as an agent
//                                                    would) until it no longer says to call a tool
//   {"op": "read", "uri"} | {"op": "read_video"}     resources/read; read_video reads the link of the last video
//                                                    result and hashes the file it names
//   {"op": "prompts"}, {"op": "get_prompt", "name", "arguments"}, {"op": "complete", "ref", "argument"},
//   {"op": "set_level", "level"}
// In a step's arguments, the string "$last_task_id" stands for the task_id of the latest result that had one.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const plan = JSON.parse(readFileSync(process.argv[2] ?? 0, "utf8"));
const FOLLOW_MAX_CALLS = 25;

async function connect() {
  const modules = plan.client === "v1"
    ? ["@modelcontextprotocol/sdk/client/index.js", "@modelcontextprotocol/sdk/client/stdio.js"]
    : ["@modelcontextprotocol/client", "@modelcontextprotocol/client/stdio"];
  const [{ Client }, { StdioClientTransport }] = await Promise.all(modules.map((m) => import(m)));
  const client = new Client({ name: `wan-harness-${plan.client}`, version: "1.0.0" }, { capabilities: {} });
  const transport = new StdioClientTransport({ ...plan.server, stderr: "pipe" });
  await client.connect(transport);
  return { client, transport };
}

function describeError(error) {
  return { code: error?.code ?? null, message: String(error?.message ?? error), name: error?.name ?? null };
}

function summarize(result) {
  const content = result.content ?? [];
  return {
    isError: result.isError === true,
    structuredContent: result.structuredContent ?? null,
    text: content.filter((c) => c.type === "text").map((c) => c.text).join(" "),
    contentTypes: content.map((c) => c.type),
    links: content.filter((c) => c.type === "resource_link").map((c) => ({ uri: c.uri, mimeType: c.mimeType, size: c.size })),
  };
}

async function call(client, name, args, options = {}) {
  const started = Date.now();
  const progress = [];
  const requestOptions = {
    ...options,
    onprogress: (p) => progress.push({ atMs: Date.now() - started, progress: p.progress, total: p.total, message: p.message }),
  };
  try {
    // v1's callTool takes a result schema before the options; v2's takes the options second.
    const result = plan.client === "v1"
      ? await client.callTool({ name, arguments: args }, undefined, requestOptions)
      : await client.callTool({ name, arguments: args }, requestOptions);
    return { ok: true, elapsedMs: Date.now() - started, progress, ...summarize(result) };
  } catch (error) {
    return { ok: false, elapsedMs: Date.now() - started, progress, error: describeError(error) };
  }
}

// next_step as an agent reads it: "Call check_task(task_id='wan_…', wait_seconds=50) in about 20s; …"
export function parseNextStep(text) {
  const match = /Call (\w+)\(([^)]*)\)/.exec(text ?? "");
  if (!match) return null;
  const args = {};
  for (const part of match[2].split(",").map((s) => s.trim()).filter(Boolean)) {
    const [key, raw] = part.split("=").map((s) => s.trim());
    args[key] = /^'.*'$/.test(raw) ? raw.slice(1, -1) : Number(raw);
  }
  return { name: match[1], arguments: args };
}

let lastVideo = null;
let lastTaskId = null;

function substitute(args) {
  return Object.fromEntries(Object.entries(args ?? {}).map(([k, v]) => [k, v === "$last_task_id" ? lastTaskId : v]));
}

function remember(out) {
  if (out.ok && out.structuredContent?.task_id) lastTaskId = out.structuredContent.task_id;
  if (out.ok && out.structuredContent?.video) lastVideo = out;
  return out;
}

async function runStep(client, step) {
  switch (step.op) {
    case "list": {
      const { tools } = await client.listTools();
      return { tools };
    }
    case "call":
      return remember(await call(client, step.name, substitute(step.arguments), step.options ?? {}));
    case "follow": {
      const calls = [];
      let next = { name: step.name, arguments: substitute(step.arguments) };
      while (next && calls.length < FOLLOW_MAX_CALLS) {
        const out = remember(await call(client, next.name, next.arguments, step.options ?? {}));
        calls.push({ name: next.name, arguments: next.arguments, ...out });
        if (!out.ok || out.isError) break;
        next = parseNextStep(out.structuredContent?.next_step);
        if (next && next.arguments.task_id === undefined) next = null;
      }
      return { calls };
    }
    case "read":
    case "read_video": {
      const uri = step.op === "read" ? step.uri : lastVideo?.links?.[0]?.uri;
      const started = Date.now();
      const result = await client.readResource({ uri });
      const item = result.contents[0];
      const bytes = item.blob !== undefined ? Buffer.from(item.blob, "base64") : Buffer.from(item.text ?? "", "utf8");
      const out = { uri, elapsedMs: Date.now() - started, mimeType: item.mimeType, size: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex") };
      if (step.op === "read_video") {
        const path = lastVideo.structuredContent.video.path;
        out.file = { path, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
        out.reported = lastVideo.structuredContent.video.sha256;
      }
      if (item.text !== undefined) out.text = item.text;
      return out;
    }
    case "prompts":
      return await client.listPrompts();
    case "get_prompt":
      return await client.getPrompt({ name: step.name, arguments: step.arguments ?? {} });
    case "complete":
      return await client.complete({ ref: step.ref, argument: step.argument });
    case "set_level":
      return { result: await client.setLoggingLevel(step.level) };
    default:
      throw new Error(`unknown step ${step.op}`);
  }
}

const { client, transport } = await connect();
const logs = [];
if (plan.client === "v1") {
  const { LoggingMessageNotificationSchema } = await import("@modelcontextprotocol/sdk/types.js");
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
} else {
  client.setNotificationHandler("notifications/message", (n) => logs.push(n.params));
}
let stderr = "";
transport.stderr?.on("data", (chunk) => { stderr += chunk.toString(); });
const report = { client: plan.client, server: client.getServerVersion?.() ?? null,
  capabilities: client.getServerCapabilities?.() ?? null, steps: [] };
for (const step of plan.steps) {
  try {
    report.steps.push({ op: step.op, ok: true, ...(await runStep(client, step)) });
  } catch (error) {
    report.steps.push({ op: step.op, ok: false, error: describeError(error) });
  }
}
await client.close();
report.stderr = stderr;
report.logs = logs;
process.stdout.write(JSON.stringify(report) + "\n");
