using System.Diagnostics;
using System.Globalization;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// A hub whose listing never ends: every page links to a page not seen before, full of made-up files. hfdl stops at
/// the listing's bound with a clear error and exit code 1, in bounded time and memory, and writes nothing.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class HostileListingTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Target => _temp.Combine("out");

    private static Task<HubServer> StartAsync(HostileFaults hostile) =>
        HubServer.StartAsync(new HubServerOptions
        {
            Store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/endless", repo => repo
                .File("config.json", "{}\n")
                .File("weights.bin", SyntheticContent.Create(10_000, seed: 3))
                .Settings(s => s with { Faults = HubFaults.None with { Hostile = hostile } })),
        });

    private static int TreeRequests(HubServer server) =>
        server.Requests.Snapshot().Count(r => r.PathAndQuery.Contains("/tree/", StringComparison.Ordinal));

    private void NothingWritten() => RepoAssert.NothingButBookkeeping(Target);

    [Fact]
    public async Task A_listing_that_never_ends_stops_at_the_entry_bound_with_a_clear_error()
    {
        await using var server = await StartAsync(new HostileFaults { EndlessPagination = true });
        var cli = new CliRunner(server, _temp);
        cli.Environment["HFDL_MAX_LISTING_ENTRIES"] = "5000";

        var result = await cli.RunAsync("download", "acme/endless", "--local-dir", Target).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("file listing for model 'acme/endless' goes on past 5,000 entries (6 pages)", result.Error, StringComparison.Ordinal);
        Assert.Contains("HFDL_MAX_LISTING_ENTRIES", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
        // A thousand entries a page: the sixth page goes past the bound, and nothing is asked for after it.
        Assert.Equal(6, TreeRequests(server));
        NothingWritten();
    }

    [Fact]
    public async Task A_listing_whose_links_keep_growing_stops_at_the_byte_bound()
    {
        await using var server = await StartAsync(new HostileFaults { EndlessPagination = true, EndlessLinkPadding = 200 });
        var cli = new CliRunner(server, _temp);
        cli.Environment["HFDL_MAX_LISTING_BYTES"] = "1000000";

        var result = await cli.RunAsync("ls", "acme/endless").WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("goes on past 1,000,000 bytes", result.Error, StringComparison.Ordinal);
        Assert.Contains("HFDL_MAX_LISTING_BYTES", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task A_page_link_too_long_to_read_is_an_error_not_the_end_of_the_listing()
    {
        await using var server = await StartAsync(new HostileFaults { EndlessPagination = true, EndlessLinkPadding = 20_000 });

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/endless", "--local-dir", Target).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("far longer than a real one", result.Error, StringComparison.Ordinal);
        Assert.Equal(1, TreeRequests(server));
        NothingWritten();
    }

    [Fact]
    public async Task The_real_hfdl_stops_an_endless_listing_in_bounded_time_and_memory()
    {
        await using var server = await StartAsync(new HostileFaults { EndlessPagination = true, EndlessLinkPadding = 20 });
        var environment = new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = server.Endpoint.ToString().TrimEnd('/'),
            ["HF_HOME"] = _temp.Combine("hf-home"),
            ["HOME"] = _temp.Combine("home"),
            ["HFDL_MAX_LISTING_ENTRIES"] = "200000",
        };
        var watch = Stopwatch.StartNew();
        using var hfdl = HfdlProcess.Start(environment, "download", "acme/endless", "--local-dir", Target);

        // The peak resident memory (VmHWM) is read while the process lives; its last reading is the run's peak.
        long peakKiB = 0;
        var exit = hfdl.WaitForExitAsync(TimeSpan.FromSeconds(120));
        while (!exit.IsCompleted)
        {
            peakKiB = Math.Max(peakKiB, PeakResidentKiB(hfdl.Id));
            await Task.WhenAny(exit, Task.Delay(50));
        }
        var code = await exit;

        Assert.True(code == 1, $"exit {code}\n{hfdl.Error}");
        Assert.True(hfdl.Error.Contains("goes on past 200,000 entries (201 pages)", StringComparison.Ordinal), hfdl.Error);
        Assert.True(peakKiB < 600 * 1024, $"peak resident memory {peakKiB / 1024} MiB");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"took {watch.Elapsed}");
        Assert.Equal(201, TreeRequests(server));
        NothingWritten();
    }

    private static long PeakResidentKiB(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0; // The process has just exited.
        }
    }
}
