// Calls a fixed set of @huggingface/hub functions against Hfdl.Hub and prints one JSON object with what each returned
// (or the HubApiError it threw), for NpmFidelityTests to check. The repos are set up by that test:
//   acme/probe (public; tag v1.0; refs/pr/1 = main; sub/ folder), acme/gated (manual, token not approved),
//   acme/private (private), acme/missing (absent).
// node probe.mjs --endpoint URL --token T
import {
  checkRepoAccess, downloadFile, fileDownloadInfo, fileExists, listFiles, modelInfo, pathsInfo, repoExists, whoAmI,
} from "@huggingface/hub";

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, value, i, all) => (i % 2 === 0 ? [...pairs, [value.replace(/^--/, ""), all[i + 1]]] : pairs), []));
const hubUrl = args.endpoint.replace(/\/+$/, "");
const model = (name) => ({ type: "model", name });

async function probe(run) {
  try {
    return { ok: await run() };
  } catch (error) {
    // HubApiError takes its message from a JSON body only; a text body (resolve routes) lands in data.message.
    return { error: { status: error.statusCode ?? null, message: String(error.message), body: error.data?.message ?? error.data?.error ?? null } };
  }
}

const results = {
  whoAmI: await probe(async () => (await whoAmI({ hubUrl, accessToken: args.token })).name),
  infoHead: await probe(async () => (await modelInfo({ hubUrl, name: "acme/probe", additionalFields: ["sha"] })).sha),
  infoPr: await probe(async () => (await modelInfo({ hubUrl, name: "acme/probe", revision: "refs/pr/1", additionalFields: ["sha"] })).sha),
  infoTag: await probe(async () => (await modelInfo({ hubUrl, name: "acme/probe", revision: "v1.0", additionalFields: ["sha"] })).sha),
  pathsInfo: await probe(async () =>
    (await pathsInfo({ hubUrl, repo: model("acme/probe"), paths: ["config.json", "model.safetensors", "nope"], expand: true }))
      .map((e) => ({ path: e.path, type: e.type, oid: e.oid, lfsOid: e.lfs?.oid ?? null, commit: e.lastCommit?.id ?? null }))),
  fileExists: await probe(() => fileExists({ hubUrl, repo: model("acme/probe"), path: "config.json" })),
  fileMissing: await probe(() => fileExists({ hubUrl, repo: model("acme/probe"), path: "nope.txt" })),
  rawInfo: await probe(async () => {
    const info = await fileDownloadInfo({ hubUrl, repo: model("acme/probe"), path: "model.safetensors", raw: true });
    return { size: info.size, etag: info.etag };
  }),
  resolveInfo: await probe(async () => {
    const info = await fileDownloadInfo({ hubUrl, repo: model("acme/probe"), path: "model.safetensors" });
    return { size: info.size, etag: info.etag };
  }),
  missingInfo: await probe(() => fileDownloadInfo({ hubUrl, repo: model("acme/probe"), path: "nope.txt" })),
  repoExists: await probe(() => repoExists({ hubUrl, repo: model("acme/probe") })),
  repoMissing: await probe(() => repoExists({ hubUrl, repo: model("acme/missing") })),
  listSub: await probe(async () => {
    const paths = [];
    for await (const entry of listFiles({ hubUrl, repo: model("acme/probe"), path: "sub" })) paths.push(entry.path);
    return paths;
  }),
  gatedAnonymous: await probe(async () => (await downloadFile({ hubUrl, repo: model("acme/gated"), path: "config.json" }))?.size),
  gatedNotApproved: await probe(async () => (await downloadFile({ hubUrl, repo: model("acme/gated"), path: "config.json", accessToken: args.token }))?.size),
  privateAnonymous: await probe(() => checkRepoAccess({ hubUrl, repo: model("acme/private") })),
};
console.log(JSON.stringify(results));
