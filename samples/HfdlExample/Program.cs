using Hfdl;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;

// The Hub, the token and the cache come from the variables huggingface_hub reads (HF_ENDPOINT, HF_TOKEN, HF_HOME...).
using var hfdl = HfdlClient.FromEnvironment();

var request = new DownloadRequest
{
    RepoType = RepoType.Model,
    RepoId = RepoId.Parse("openai-community/gpt2"),
    Include = ["*.json", "*.txt"],
    TargetFolder = "gpt2",
};

// The plan: the commit, and what a download does with each file. Nothing is written.
var plan = await hfdl.PlanAsync(request);
Console.WriteLine($"commit {plan.Commit}: {plan.FilesToFetch} of {plan.Files.Count} files to fetch ({plan.BytesToFetch:N0} bytes)");

// The download: each file is verified against the Hub's hash before it gets its name; run it again to resume.
var summary = await hfdl.DownloadAsync(request, new Progress<DownloadEvent>(e =>
{
    if (e is FileCompleted done)
    {
        Console.WriteLine($"verified {done.Path} ({done.Hash})");
    }
}));
Console.WriteLine($"{summary.FilesDownloaded} downloaded, {summary.FilesSkipped} already there, in {summary.TargetFolder}");

// Later, with or without the network: are the files still what the Hub lists?
var report = await hfdl.VerifyAsync(request with { Offline = true });
Console.WriteLine(report.AllOk ? "all files verified" : "some files are missing or corrupt");
return report.AllOk ? 0 : 1;
