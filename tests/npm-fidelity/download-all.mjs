// Downloads every file of a repo with the official @huggingface/hub client, to check that Hfdl.Hub behaves like the
// real Hub for it. Two passes, both must work:
//   1. listFiles (recursive, following Link pagination) + downloadFile for each file  -> <out>/files/<path>
//   2. snapshotDownload (modelInfo for the sha, listFiles, paths-info, downloadFileToCacheDir) -> <out>/cache
// Prints one JSON line: {"files":[...],"snapshot":"<snapshot folder>"}.
//
// node download-all.mjs --endpoint URL --repo ID [--repo-type model|dataset|space] [--revision main] --out DIR [--token T]
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { downloadFile, listFiles, snapshotDownload } from "@huggingface/hub";

function parseArgs(argv) {
  const args = { repoType: "model", revision: "main" };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`Missing value for ${name}`);
    switch (name) {
      case "--endpoint": args.endpoint = value.replace(/\/+$/, ""); break;
      case "--repo": args.repo = value; break;
      case "--repo-type": args.repoType = value; break;
      case "--revision": args.revision = value; break;
      case "--out": args.out = value; break;
      case "--token": args.token = value; break;
      default: throw new Error(`Unknown argument ${name}`);
    }
    i++;
  }
  for (const required of ["endpoint", "repo", "out"]) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const common = {
  repo: { type: args.repoType, name: args.repo },
  hubUrl: args.endpoint,
  revision: args.revision,
  ...(args.token ? { accessToken: args.token } : {}),
};

const files = [];
for await (const entry of listFiles({ ...common, recursive: true })) {
  if (entry.type !== "file") continue;
  const blob = await downloadFile({ ...common, path: entry.path });
  if (!blob) throw new Error(`downloadFile returned null for ${entry.path}`);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (bytes.length !== entry.size) {
    throw new Error(`${entry.path}: got ${bytes.length} bytes, listing says ${entry.size}`);
  }
  const target = join(args.out, "files", entry.path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, bytes);
  files.push(entry.path);
}

const snapshot = await snapshotDownload({ ...common, cacheDir: join(args.out, "cache") });
console.log(JSON.stringify({ files, snapshot }));
