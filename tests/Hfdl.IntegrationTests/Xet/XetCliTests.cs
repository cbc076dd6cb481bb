using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.IntegrationTests.Xet;

/// <summary>Native Xet through the real CLI: the switches that turn it off, the savings report, the token's renewal.</summary>
public sealed class XetCliTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Task<HubServer> StartAsync(byte[] old, byte[] edited) =>
        HubTestKit.StartAsync(XetDownloadTests.RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });

    private static JsonElement Summary(CliResult result) =>
        result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "summary");

    [Fact]
    public async Task The_summary_reports_bytes_fetched_over_the_network_and_bytes_from_the_chunk_cache()
    {
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 51);
        await using var server = await StartAsync(old, edited);
        var cli = new CliRunner(server, _temp);

        var first = await cli.RunAsync("download", "acme/versions", "--revision", "v1", "--local-dir", _temp.Combine("v1"), "--file-size-threshold", "1", "--json");
        var xorbsAfterFirst = XetDownloadTests.XorbBytes(server);
        var second = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("main"), "--file-size-threshold", "1", "--json");
        var third = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("again"), "--file-size-threshold", "1");

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(0, second.ExitCode);
        Assert.Equal(edited, File.ReadAllBytes(_temp.Combine("main", "model.safetensors")));
        Assert.Equal(xorbsAfterFirst, Summary(first).GetProperty("bytes_fetched").GetInt64());
        Assert.Equal(0, Summary(first).GetProperty("bytes_from_cache").GetInt64());
        var fetched = Summary(second).GetProperty("bytes_fetched").GetInt64();
        Assert.Equal(XetDownloadTests.XorbBytes(server) - xorbsAfterFirst, fetched);
        Assert.InRange(fetched, 1, edited.Length / 5);
        Assert.True(Summary(second).GetProperty("bytes_from_cache").GetInt64() > edited.Length / 2);
        // The cache is shared by default under $HF_HOME/xet, in hfdl's own folder.
        Assert.True(Directory.Exists(Path.Combine(cli.Environment["HF_HOME"]!, "xet", "hfdl-chunks")));
        Assert.Contains("came over the network and", third.Error, StringComparison.Ordinal);
        Assert.Contains("from the Xet chunk cache.", third.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_closing_line_splits_network_and_chunk_cache_bytes_whenever_xet_ran_zero_included_and_not_without_xet()
    {
        var (old, _) = XetDownloadTests.TwoRevisions(seed: 56);
        await using var server = await StartAsync(old, old);
        var cli = new CliRunner(server, _temp);

        var cold = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("cold"), "--file-size-threshold", "1");
        var forced = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("cold"), "--file-size-threshold", "1", "--force");
        var plain = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("plain"), "--file-size-threshold", "1", "--no-xet");

        Assert.Equal(0, cold.ExitCode);
        Assert.Equal(0, forced.ExitCode);
        Assert.Equal(0, plain.ExitCode);
        // Nothing was in the cache, and --force reads nothing from it: both say so, rather than leaving the split out.
        Assert.Matches(@"\n[0-9.]+ [kM]?B came over the network and 0 B from the Xet chunk cache\.\n", cold.Error);
        Assert.Matches(@"\n[0-9.]+ [kM]?B came over the network and 0 B from the Xet chunk cache\.\n", forced.Error);
        Assert.DoesNotContain("chunk cache", plain.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Force_fetches_everything_over_the_network_without_reading_the_chunk_cache_and_still_fills_it()
    {
        var (old, _) = XetDownloadTests.TwoRevisions(seed: 53);
        await using var server = await StartAsync(old, old);
        var cli = new CliRunner(server, _temp);
        cli.Environment["HF_XET_CACHE"] = _temp.Combine("xet-cache");
        var cacheFolder = Path.Combine(_temp.Combine("xet-cache"), "hfdl-chunks");

        var first = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1", "--json");
        Directory.Delete(cacheFolder, recursive: true);
        var refill = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1", "--json", "--force");
        var forced = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1", "--json", "--force");

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(0, refill.ExitCode);
        Assert.Equal(0, forced.ExitCode);
        Assert.Equal(old, File.ReadAllBytes(_temp.Combine("out", "model.safetensors")));
        var everything = Summary(first).GetProperty("bytes_fetched").GetInt64();
        Assert.NotEmpty(Directory.GetFiles(cacheFolder, "*-*", SearchOption.AllDirectories)); // written by a forced run
        Assert.Equal(everything, Summary(forced).GetProperty("bytes_fetched").GetInt64());
        Assert.Equal(0, Summary(forced).GetProperty("bytes_from_cache").GetInt64());
    }

    [Fact]
    public async Task HF_XET_CACHE_moves_the_chunk_cache()
    {
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 52);
        await using var server = await StartAsync(old, edited);
        var cli = new CliRunner(server, _temp);
        cli.Environment["HF_XET_CACHE"] = _temp.Combine("xet-cache");

        var result = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1", "-q");

        Assert.Equal(0, result.ExitCode);
        Assert.NotEmpty(Directory.GetFiles(_temp.Combine("xet-cache", "hfdl-chunks"), "*-*", SearchOption.AllDirectories));
        Assert.False(Directory.Exists(Path.Combine(cli.Environment["HF_HOME"]!, "xet")));
    }

    [Theory]
    [InlineData("HF_XET_CACHE")]
    [InlineData("HF_HOME")]
    public async Task A_chunk_cache_place_that_is_a_file_is_said_once_naming_the_variable_and_the_download_goes_on_without_the_cache(string variable)
    {
        var (old, _) = XetDownloadTests.TwoRevisions(seed: 54);
        await using var server = await StartAsync(old, old);
        var cli = new CliRunner(server, _temp);
        var file = _temp.Combine("afile");
        File.WriteAllText(file, "precious\n");
        string expected;
        if (variable == "HF_XET_CACHE")
        {
            cli.Environment["HF_XET_CACHE"] = file;
            expected = $"The Xet chunk cache is not used: HF_XET_CACHE is '{file}', which is a file; it must be a folder, to hold the Xet chunk cache. Point HF_XET_CACHE at a folder, or move that file away.";
        }
        else
        {
            // The cache goes in $HF_HOME/xet: a file there is on the way to it.
            var home = cli.Environment["HF_HOME"]!;
            Directory.CreateDirectory(home);
            File.Move(file, file = Path.Combine(home, "xet"));
            expected = $"The Xet chunk cache is not used: HF_HOME is '{home}', but '{file}' on the way there is a file, not a folder, so it cannot hold the Xet chunk cache. Point HF_HOME elsewhere, or move that file away.";
        }

        var result = await cli.RunAsync("download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(old, File.ReadAllBytes(_temp.Combine("out", "model.safetensors")));
        Assert.Equal("precious\n", File.ReadAllText(file));
        var warnings = result.Error.Split('\n').Where(l => l.Contains("warning", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.Contains(expected, Assert.Single(warnings), StringComparison.Ordinal);
        Assert.True(XetDownloadTests.XorbBytes(server) > 0, "Xet still ran, without its cache");
    }

    [Theory]
    [InlineData("--no-xet", null)]
    [InlineData(null, "1")]
    [InlineData(null, "TRUE")]
    public async Task No_xet_and_HF_HUB_DISABLE_XET_fetch_over_the_plain_https_bridge_only(string? flag, string? variable)
    {
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 53);
        await using var server = await StartAsync(old, edited);
        var cli = new CliRunner(server, _temp);
        cli.Environment["HF_HUB_DISABLE_XET"] = variable;
        string[] args = ["download", "acme/versions", "--local-dir", _temp.Combine("out"), "--file-size-threshold", "1", "--json"];

        var result = await cli.RunAsync(flag is null ? args : [.. args, flag]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(edited, File.ReadAllBytes(_temp.Combine("out", "model.safetensors")));
        Assert.DoesNotContain(server.Requests.Snapshot(), r => r.Listener == "cas" || r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)
            || r.PathAndQuery.Contains("xet-read-token", StringComparison.Ordinal));
        Assert.Equal(edited.Length, XetDownloadTests.BridgeBytes(server));
        Assert.Equal(edited.Length, Summary(result).GetProperty("bytes_fetched").GetInt64());
        Assert.False(Directory.Exists(Path.Combine(cli.Environment["HF_HOME"]!, "xet")));
    }

    [Fact]
    public async Task A_negative_xet_cache_size_is_a_usage_error()
    {
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 54);
        await using var server = await StartAsync(old, edited);

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/versions", "--xet-cache-size", "-1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--xet-cache-size must be a number of MB from 0 (no cache) to 10^12, not '-1'.", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_read_token_is_renewed_shortly_before_it_expires_on_the_clock_hfdl_is_given()
    {
        var (old, edited) = XetDownloadTests.TwoRevisions(seed: 55);
        await using var server = await StartAsync(old, edited);
        using var xet = new XetTestClient(server);
        var hash = (await xet.FileInfoAsync("acme/versions", "model.safetensors")).Hash!;
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var client = new HubClient(new HubClientOptions { Endpoint = server.Endpoint });
        var commit = server.Options.Store.FindRepo(RepoType.Model, "acme/versions")!.CommitOf();
        var session = new XetSession(client, RepoType.Model, RepoId.Parse("acme/versions"), commit, Engine.FastOptions with { Time = clock }, null, null);

        await session.ReconstructionAsync(hash, 0, 99, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(58));
        await session.ReconstructionAsync(hash, 0, 99, CancellationToken.None);
        Assert.Equal(1, session.TokensFetched);
        // The hub's tokens live an hour: 59.5 minutes in, the token is within a minute of its exp and is renewed first.
        clock.Advance(TimeSpan.FromMinutes(1.5));
        await session.ReconstructionAsync(hash, 0, 99, CancellationToken.None);

        Assert.Equal(2, session.TokensFetched);
        Assert.Equal(3, server.Requests.Snapshot().Count(r => r.Listener == "cas" && r.StatusCode == 200));
        Assert.Equal(2, server.Requests.Snapshot().Count(r => r.Listener == "hub" && r.PathAndQuery.Contains("/xet-read-token/", StringComparison.Ordinal)));
    }
}
