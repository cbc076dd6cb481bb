// Reads a Hugging Face cache written by another tool with the official @huggingface/hub client, to check that hfdl
// writes the format that client understands. Prints one JSON line with what scanCacheDir found; with --endpoint and
// --repo it also runs snapshotDownload into the same cache, which must find every file already there.
//
// node cache-check.mjs --cache DIR [--endpoint URL --repo ID [--repo-type model] [--revision main]]
import { scanCacheDir, snapshotDownload } from "@huggingface/hub";

const args = { repoType: "model", revision: "main" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const value = argv[i + 1];
  switch (argv[i]) {
    case "--cache": args.cache = value; break;
    case "--endpoint": args.endpoint = value.replace(/\/+$/, ""); break;
    case "--repo": args.repo = value; break;
    case "--repo-type": args.repoType = value; break;
    case "--revision": args.revision = value; break;
    default: throw new Error(`Unknown argument ${argv[i]}`);
  }
}
if (!args.cache) throw new Error("--cache is required");

const info = await scanCacheDir(args.cache);
const result = {
  warnings: info.warnings.map((w) => String(w.message ?? w)),
  repos: info.repos.map((repo) => ({
    type: repo.id.type,
    name: repo.id.name,
    size: repo.size,
    filesCount: repo.filesCount,
    revisions: repo.revisions.map((rev) => ({
      commit: rev.commitOid,
      refs: rev.refs,
      files: rev.files.map((f) => ({ path: f.path, blob: f.blob.path, size: f.blob.size })),
    })),
  })),
};
if (args.endpoint && args.repo) {
  result.snapshot = await snapshotDownload({
    repo: { type: args.repoType, name: args.repo },
    hubUrl: args.endpoint,
    revision: args.revision,
    cacheDir: args.cache,
  });
}
console.log(JSON.stringify(result));
