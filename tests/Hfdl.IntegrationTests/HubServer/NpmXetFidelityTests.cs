using Hfdl.Core.Hub;
using Hfdl.Core.Xet;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>
/// The official JavaScript client (@huggingface/hub 2.17.5, whose downloadFile uses Xet by default) reads Xet-backed
/// files from the server through its own Xet path: fileDownloadInfo's xet-fileinfo answer, xet-read-token, v2
/// reconstructions, signed xorb ranges (multi-range answers included), chunk decoding. When it fails, the server is
/// what is wrong.
/// </summary>
public sealed class NpmXetFidelityTests
{
    [Fact]
    public async Task Official_js_client_downloads_xet_backed_files_through_its_own_xet_path_bit_exact()
    {
        var (oldWeights, newWeights) = XetContent.WeightsAndEdit(3_000_000, seed: 1);
        var files = new (string Path, FileContent Content)[]
        {
            ("config.json", "{\"architectures\":[\"Tiny\"]}"),
            ("model.safetensors", newWeights),
            ("shards/repeated.bin", XetContent.Repeated("this is a text file.", 1_500_000)),
            ("tokenizer.model", XetContent.Mixed(700_000, seed: 2)),
        };
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet-fidelity", repo =>
        {
            foreach (var (path, content) in files)
            {
                repo.File(path, content);
            }
            // The previous version, committed first: the new weights reuse its chunks around the edit.
            repo.Revision("v1.0", RevisionKind.Tag, r => r.File("model.safetensors", oldWeights), date: new DateTimeOffset(2024, 6, 1, 0, 0, 0, TimeSpan.Zero));
            repo.Settings(s => s with { Xet = true });
        });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store, TreePageSize = 2 });

        await NpmFidelityTests.RunAndVerifyAsync(server, "acme/xet-fidelity", "model", token: null, files);

        var requests = server.Requests.Snapshot();
        var describe = string.Join('\n', requests.Select(r => $"{r.Listener} {r.Method} {r.PathAndQuery[..Math.Min(r.PathAndQuery.Length, 100)]} range={r.Range} -> {r.StatusCode}"));
        // Three Xet files, each read by downloadFile and by snapshotDownload.
        Assert.True(requests.Count(r => r.Listener == "cas" && r.PathAndQuery.StartsWith("/v2/reconstructions/", StringComparison.Ordinal) && r.StatusCode == 200) >= 6, describe);
        Assert.Contains(requests, r => r.Listener == "hub" && r.PathAndQuery.Contains("/xet-read-token/", StringComparison.Ordinal) && r.StatusCode == 200);
        var xorbRequests = requests.Where(r => r.Listener == "cdn" && r.PathAndQuery.StartsWith("/xorbs/default/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(xorbRequests);
        Assert.All(xorbRequests, r => Assert.Equal(206, r.StatusCode));
        Assert.All(xorbRequests, r => Assert.Null(r.Authorization));
        Assert.Contains(xorbRequests, r => r.Range!.Contains(',', StringComparison.Ordinal));
        Assert.DoesNotContain(requests, r => r.Listener == "cdn" && r.PathAndQuery.StartsWith("/repos/", StringComparison.Ordinal));
        // Every compression scheme was in what the client decoded.
        var schemes = server.Xet.Xorbs.SelectMany(x =>
        {
            var bytes = File.ReadAllBytes(x.Path);
            return x.Chunks.Select(c => XorbChunkHeader.Read(bytes.AsSpan(c.Offset)).Scheme);
        }).ToHashSet();
        Assert.Equal([XetCompression.None, XetCompression.Lz4, XetCompression.ByteGrouping4Lz4], schemes.Order());
    }

    [Fact]
    public async Task Official_js_client_reads_a_private_xet_dataset_and_its_hub_token_reaches_only_the_hub()
    {
        const string token = "hf_xet_fidelity_token";
        var files = new (string Path, FileContent Content)[]
        {
            ("README.md", "# data\n"),
            ("data/train.parquet", XetContent.Mixed(900_000, seed: 3)),
        };
        var store = new InMemoryRepoStore().AddRepo(RepoType.Dataset, "acme/secret-xet", repo =>
        {
            foreach (var (path, content) in files)
            {
                repo.File(path, content);
            }
            repo.Settings(s => s with { Private = true, AllowedTokens = [token], Xet = true });
        });
        await using var server = await HubServer.StartAsync(new HubServerOptions { Store = store, Users = [new HubUser(token, "reader", [])] });

        await NpmFidelityTests.RunAndVerifyAsync(server, "acme/secret-xet", "dataset", token, files);

        var requests = server.Requests.Snapshot();
        Assert.Contains(requests, r => r.Listener == "cas" && r.StatusCode == 200);
        Assert.All(requests.Where(r => r.Listener != "hub"), r => Assert.DoesNotContain(token, r.Authorization ?? "", StringComparison.Ordinal));
        Assert.All(requests.Where(r => r.Listener == "cas"), r => Assert.StartsWith("Bearer xet_", r.Authorization, StringComparison.Ordinal));
        Assert.All(requests.Where(r => r.Listener == "cdn"), r => Assert.Null(r.Authorization));
    }
}
