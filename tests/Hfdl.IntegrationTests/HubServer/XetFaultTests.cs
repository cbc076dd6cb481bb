using System.Net;
using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Xet;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>Faults on the Xet routes, for clients to be tested against: each is seen as it is meant to be.</summary>
public sealed class XetFaultTests
{
    private static readonly byte[] Weights = XetContent.Mixed(1_200_000, seed: 21);

    private static async Task<HubServer> StartAsync(HubFaults faults) =>
        await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", repo => repo
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true, Faults = faults })));

    [Fact]
    public async Task The_first_reconstructions_can_answer_401_as_if_the_token_had_expired()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { UnauthorizedReconstructions = 1 } });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);

        using var first = await xet.ReconstructionResponseAsync(token.CasUrl!, info.Hash!, token.AccessToken);
        using var second = await xet.ReconstructionResponseAsync(token.CasUrl!, info.Hash!, token.AccessToken);

        Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
    }

    [Fact]
    public async Task A_reconstruction_that_lies_about_a_terms_length_is_caught_when_the_term_is_cut()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { Lie = XetReconstructionLie.UnpackedLength } });
        using var xet = new XetTestClient(server);

        var error = await Assert.ThrowsAsync<XetFormatException>(() => xet.DownloadAsync("acme/xet", "model.safetensors"));

        Assert.Contains("promised", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reconstruction_that_lies_about_byte_ranges_gets_ranges_that_do_not_decode()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { Lie = XetReconstructionLie.ByteRange } });
        using var xet = new XetTestClient(server);

        await Assert.ThrowsAsync<XetFormatException>(() => xet.DownloadAsync("acme/xet", "model.safetensors"));
    }

    [Fact]
    public async Task A_corrupt_xorb_range_has_its_middle_byte_flipped()
    {
        await using var server = await StartAsync(HubFaults.None with { Xet = new XetFaults { CorruptXorbRanges = true } });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);
        var fetch = (await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!)).Fetches[0];
        var range = fetch.Ranges[0];

        var served = (await xet.FetchAsync(fetch with { Ranges = [range] }))[0];

        var stored = File.ReadAllBytes(server.Xet.FindXorb(fetch.Xorb)!.Path).AsSpan((int)range.ByteStart, (int)range.ByteCount).ToArray();
        var differences = Enumerable.Range(0, stored.Length).Where(i => stored[i] != served[i]).ToList();
        Assert.Equal([stored.Length / 2], differences);
    }

    [Fact]
    public async Task A_connection_dropped_mid_xorb_ends_the_body_short_once_and_the_retry_gets_it_all()
    {
        await using var server = await StartAsync(HubFaults.None with { DropConnection = new DropConnectionFault(AfterBytes: 5_000) });
        using var xet = new XetTestClient(server);
        var info = await xet.FileInfoAsync("acme/xet", "model.safetensors");
        var token = await xet.TokenAsync(info.RefreshUrl!);
        var fetch = (await xet.ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!)).Fetches[0];
        var single = fetch with { Ranges = [fetch.Ranges[0]] };

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => xet.FetchAsync(single));
        var retry = (await xet.FetchAsync(single))[0];

        Assert.Equal(single.Ranges[0].ByteCount, retry.Length);
        var dropped = server.Requests.Snapshot().First(r => r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal));
        Assert.True(dropped.Aborted);
        Assert.Equal(5_000, dropped.BodyBytesSent);
    }

    [Fact]
    public void Folder_settings_can_make_a_repo_xet_backed_and_declare_xet_faults()
    {
        using var document = JsonDocument.Parse("""{"xet": {"unauthorizedReconstructions": 2, "lie": "byteRange", "corruptXorbRanges": true}}""");

        var faults = HubFaultsJson.Read(document.RootElement, "test");

        Assert.Equal(new XetFaults { UnauthorizedReconstructions = 2, Lie = XetReconstructionLie.ByteRange, CorruptXorbRanges = true }, faults.Xet);
        Assert.True(StandaloneArguments.Parse(["--root", "r", "--xet", "--cas-port", "8082"]) is { Xet: true, CasPort: 8082 });
        Assert.False(StandaloneArguments.Parse(["--root", "r"]).Xet);
    }
}
