using System.Diagnostics;
using System.Globalization;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Planning;

/// <summary>
/// A repo of 400,000 files (the size of the largest real datasets' listings) planned by the real hfdl process: its
/// peak resident memory, as the kernel counts it for that process alone (GNU time's maximum RSS), stays well under
/// 500 MB. Runs alone, so other tests' load does not slow the hub that serves the listing.
/// </summary>
[Collection(nameof(LargeRepoMemoryCollection))]
public sealed class LargeRepoMemoryTests : IAsyncLifetime, IDisposable
{
    private const int FileCount = 400_000;
    private const long LimitBytes = 500L * 1000 * 1000;
    private readonly TempFolder _temp = new();
    private HubServer _server = null!;

    public async Task InitializeAsync()
    {
        var store = new InMemoryRepoStore();
        store.AddRepo(RepoType.Dataset, "acme/huge", repo =>
        {
            for (var i = 0; i < FileCount; i++)
            {
                // Folders of 1,000 files, as real datasets shard them.
                repo.File(string.Create(CultureInfo.InvariantCulture, $"data/shard-{i / 1000:D4}/part-{i:D6}.jsonl"), string.Create(CultureInfo.InvariantCulture, $"{{\"row\":{i}}}\n"));
            }
        });
        _server = await HubServer.StartAsync(new HubServerOptions { Store = store });
        // The hub indexes a snapshot on first use (seconds for 400,000 files); do that here, so that hfdl's API timeout
        // measures hfdl and not the index.
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        using var warm = await http.GetAsync(new Uri(_server.Endpoint, "api/datasets/acme/huge/tree/main?recursive=true"));
        warm.EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("--dry-run")]
    [InlineData("--dry-run", "--json")]
    [InlineData("--dry-run", "--include", "data/shard-01*/*")]
    public async Task Planning_a_400000_file_repo_stays_well_under_500_MB(params string[] options)
    {
        var (exitCode, peak, error) = await RunMeasuredAsync(["download", "-r", "dataset", "acme/huge", "--local-dir", _temp.Combine("out"), .. options]);

        Assert.True(exitCode == 0, error);
        Assert.True(peak < LimitBytes, $"hfdl's peak RSS was {peak / 1e6:0} MB planning {FileCount} files; the bound is {LimitBytes / 1e6:0} MB.");
    }

    /// <summary>Runs hfdl under GNU time, which reports the maximum resident set size of that one process.</summary>
    private async Task<(int ExitCode, long PeakBytes, string Error)> RunMeasuredAsync(string[] args)
    {
        const string time = "/usr/bin/time";
        Assert.True(File.Exists(time), "GNU time (/usr/bin/time, Debian package 'time') is needed to measure hfdl's peak memory; .ci/run installs it.");
        var report = _temp.Combine($"rss-{Guid.NewGuid():N}.txt");
        var info = new ProcessStartInfo(time) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])["-f", "%M", "-o", report, "dotnet", Path.Combine(AppContext.BaseDirectory, "hfdl.dll"), .. args])
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["HF_ENDPOINT"] = _server.Endpoint.ToString().TrimEnd('/');
        info.Environment["HF_HOME"] = _temp.Combine("hf-home");
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await output;
        var kilobytes = long.Parse(File.ReadAllText(report).Trim().Split('\n')[^1], CultureInfo.InvariantCulture);
        return (process.ExitCode, kilobytes * 1024, await error);
    }
}

[CollectionDefinition(nameof(LargeRepoMemoryCollection), DisableParallelization = true)]
public sealed class LargeRepoMemoryCollection;
