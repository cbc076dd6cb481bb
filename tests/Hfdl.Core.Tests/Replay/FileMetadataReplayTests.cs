using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;

namespace Hfdl.Core.Tests.Replay;

/// <summary>
/// The real sizes and etags of file-download-info.json, served by a fake Hub the way the real one answers a HEAD on
/// /resolve/ (hub-api.md §4.1): LFS and Xet files get a 302 to a CDN on another host with X-Linked-Size and
/// X-Linked-Etag; regular files a relative 307 to /api/resolve-cache/... and then a 200 with ETag and Content-Length.
/// </summary>
public sealed class FileMetadataReplayTests
{
    private const string Secret = "hf_SECRETSECRET";

    // Used only where the fixture recorded no value; never asserted.
    private const string UnrecordedCommit = "0000000000000000000000000000000000000001";
    private const long UnrecordedSize = 4242;

    public sealed record DownloadInfo(string RepoId, string Revision, string Path, string Url, long? Size, string? Etag, string? Commit)
    {
        public string? NormalizedEtag => Etag is null ? null : ContentHash.NormalizeEtag(Etag);

        public bool IsLfs => NormalizedEtag is { Length: 64 } || (Size ?? 0) > 100_000_000;

        public override string ToString() => $"{RepoId}@{Revision[..Math.Min(8, Revision.Length)]}:{Path}";
    }

    public static List<DownloadInfo> ResolveEntries()
    {
        using var doc = JsonDocument.Parse(SharedFixtures.ReadText("huggingface.js/file-download-info.json"));
        var result = new List<DownloadInfo>();
        foreach (var entry in doc.RootElement.GetProperty("entries").EnumerateArray())
        {
            var url = entry.GetProperty("url").GetString()!;
            if (!url.Contains("/resolve/", StringComparison.Ordinal))
            {
                continue;
            }
            string? Str(string name) => entry.TryGetProperty(name, out var v) ? v.GetString() : null;
            result.Add(new DownloadInfo(
                Str("repo_id")!,
                Str("revision")!,
                Str("path")!,
                url,
                entry.TryGetProperty("size", out var size) ? size.GetInt64() : null,
                Str("etag") ?? Str("etag_normalized"),
                Str("commit_hash")));
        }
        return result;
    }

    public static TheoryData<string> EntryNames()
    {
        var data = new TheoryData<string>();
        foreach (var entry in ResolveEntries())
        {
            data.Add(entry.ToString());
        }
        return data;
    }

    [Fact]
    public void The_fixture_has_the_resolve_entries_its_README_lists()
    {
        var entries = ResolveEntries();
        Assert.Equal(7, entries.Count);
        Assert.Contains(entries, e => e is { Path: "tf_model.h5", Size: 536063208 });
        Assert.Contains(entries, e => e is { Path: "tokenizer_config.json", Size: 28 });
        Assert.Contains(entries, e => e is { Path: "large_text.txt", Size: 62914580 });
    }

    private static string CommitOf(DownloadInfo info) =>
        info.Commit ?? (RepoDownloaderIsCommit(info.Revision) ? info.Revision : UnrecordedCommit);

    private static bool RepoDownloaderIsCommit(string revision) => Hfdl.Core.Transfer.RepoDownloader.IsCommit(revision);

    /// <summary>The Hub: answers HEAD on the resolve path of <paramref name="info"/> as §4.1 describes.</summary>
    private static Func<ReceivedRequest, ReplayResponse> FakeHub(DownloadInfo info, ReplayServer cdn)
    {
        var resolvePath = new Uri(info.Url).AbsolutePath;
        var commit = CommitOf(info);
        var etag = info.NormalizedEtag ?? (info.IsLfs ? new string('e', 64) : new string('e', 40));
        var quoted = info.Etag is { } raw && raw.StartsWith('"') ? raw : $"\"{etag}\"";
        var size = info.Size ?? UnrecordedSize;
        var cachePath = $"/api/resolve-cache/models/{info.RepoId}/{commit}/{info.Path}";
        return request =>
        {
            if (request.Method != "HEAD")
            {
                return ReplayResponse.NotRecorded(request);
            }
            if (request.Path == resolvePath && info.IsLfs)
            {
                var cdnUrl = cdn.UrlAs("localhost", $"/xet-bridge-us/621ffdc036468d709f174338/{etag}?X-Xet-Cas-Uid=public&Expires=1741000000&Policy=eyJ9&Signature=abc~&Key-Pair-Id=K2L8F4GPSG1IFC");
                return ReplayResponse.Redirect(302, cdnUrl.AbsoluteUri,
                    ("X-Repo-Commit", commit),
                    ("X-Linked-Size", size.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    ("X-Linked-Etag", quoted),
                    ("X-Xet-Hash", "879c5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279b"),
                    ("Accept-Ranges", "bytes"),
                    ("ETag", "\"not-the-content-hash\""));
            }
            if (request.Path == resolvePath)
            {
                var location = $"{cachePath}?%2F{Uri.EscapeDataString(info.RepoId)}%2Fresolve%2F{info.Revision}%2F{info.Path}=&etag=%22{etag}%22";
                return ReplayResponse.Redirect(307, location,
                    ("X-Repo-Commit", commit),
                    ("X-Linked-Etag", quoted),
                    ("Accept-Ranges", "bytes"));
            }
            if (request.Path == cachePath)
            {
                return new ReplayResponse
                {
                    Status = 200,
                    HeadContentLength = size,
                    Headers = [new("ETag", quoted), new("X-Repo-Commit", commit), new("Accept-Ranges", "bytes"), new("Content-Type", "text/plain; charset=utf-8")],
                };
            }
            return ReplayResponse.NotRecorded(request);
        };
    }

    [Theory]
    [MemberData(nameof(EntryNames))]
    public async Task The_metadata_HEAD_returns_the_recorded_size_and_normalised_etag(string name)
    {
        var info = ResolveEntries().Single(e => e.ToString() == name);
        await using var cdn = await ReplayServer.StartAsync();
        await using var hub = await ReplayServer.StartAsync();
        hub.Handler = FakeHub(info, cdn);
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri, Token = new AccessToken(Secret, TokenOrigin.HfTokenVariable) });

        var metadata = await client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse(info.RepoId), info.Revision, info.Path);

        if (info.Size is { } size)
        {
            Assert.Equal(size, metadata.Size);
        }
        if (info.NormalizedEtag is { } etag)
        {
            Assert.Equal(etag, metadata.Etag);
            Assert.True(ContentHash.TryFromEtag(metadata.Etag, out var hash));
            Assert.Equal(info.IsLfs ? HashKind.Sha256 : HashKind.GitSha1, hash.Kind);
        }
        if (info.Commit is not null || RepoDownloaderIsCommit(info.Revision))
        {
            Assert.Equal(CommitOf(info), metadata.Commit);
        }

        // The resolve URL the client built is exactly the one the JS and Python clients use.
        Assert.Equal(new Uri(info.Url).AbsolutePath, hub.Requests[0].Path);
        Assert.All(hub.Requests, r => Assert.Equal($"Bearer {Secret}", r.Authorization));
        Assert.Empty(cdn.Requests);
        if (info.IsLfs)
        {
            Assert.Single(hub.Requests);
            Assert.Equal("localhost", metadata.Location.Host);
            Assert.Equal(cdn.Port, metadata.Location.Port);
            Assert.StartsWith("/xet-bridge-us/", metadata.Location.AbsolutePath, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(2, hub.Requests.Count);
            Assert.StartsWith("/api/resolve-cache/models/", hub.Requests[1].Path, StringComparison.Ordinal);
            Assert.Equal(hub.BaseUri.Authority, metadata.Location.Authority);
            Assert.StartsWith("/api/resolve-cache/models/", metadata.Location.AbsolutePath, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_direct_200_with_a_weak_etag_is_read_from_ETag_and_Content_Length()
    {
        // §4.1 (D): older Hubs and mirrors answer 200 at once; the Hub once sent weak ETags (file-download-info.json).
        await using var hub = await ReplayServer.StartAsync(request => new ReplayResponse
        {
            HeadContentLength = 851,
            Headers = [new("ETag", "W/\"a16a55fda99d2f2e7b69cce5cf93ff4ad3049930\""), new("X-Repo-Commit", "f2c752cfc5c0ab6f4bdec59acea69eefbee381c2")],
        });
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri });

        var metadata = await client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse("julien-c/dummy-unknown"), "f2c752cfc5c0ab6f4bdec59acea69eefbee381c2", "config.json");

        Assert.Equal(new FileMetadata("f2c752cfc5c0ab6f4bdec59acea69eefbee381c2", "a16a55fda99d2f2e7b69cce5cf93ff4ad3049930", 851,
            hub.Url("/julien-c/dummy-unknown/resolve/f2c752cfc5c0ab6f4bdec59acea69eefbee381c2/config.json")), metadata);
    }

    [Theory]
    [InlineData("X-Linked-Size", "9223372036854775807")]
    [InlineData("X-Linked-Size", "1125899906842625")]
    [InlineData("Content-Length", "9223372036854775807")]
    public async Task A_size_beyond_1_PiB_in_the_metadata_is_refused_as_implausible(string header, string value)
    {
        await using var hub = await ReplayServer.StartAsync(request => new ReplayResponse
        {
            HeadContentLength = header == "Content-Length" ? long.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 851,
            Headers = header == "Content-Length"
                ? [new("ETag", "\"a16a55fda99d2f2e7b69cce5cf93ff4ad3049930\""), new("X-Repo-Commit", "f2c752cfc5c0ab6f4bdec59acea69eefbee381c2")]
                : [new("ETag", "\"a16a55fda99d2f2e7b69cce5cf93ff4ad3049930\""), new("X-Repo-Commit", "f2c752cfc5c0ab6f4bdec59acea69eefbee381c2"), new(header, value)],
        });
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri, MaxRetries = 0 });

        var error = await Assert.ThrowsAsync<HubProtocolException>(() =>
            client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse("julien-c/dummy-unknown"), "main", "config.json"));

        Assert.Contains("more than 1 PiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_renamed_repo_resolve_is_followed_on_the_same_host_then_stops_at_the_CDN()
    {
        // §4.1 (C): a relative 307 to the new name, which then behaves as (A).
        await using var cdn = await ReplayServer.StartAsync();
        await using var hub = await ReplayServer.StartAsync();
        var cdnUrl = cdn.UrlAs("localhost", "/repos/aa/bb/7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421?Expires=1");
        hub.Handler = request => request.Path switch
        {
            "/gpt2/resolve/e7da7f221d5bf496a48136c0cd264e630fe9fcc8/pytorch_model.bin" =>
                ReplayResponse.Redirect(307, "/openai-community/gpt2/resolve/e7da7f221d5bf496a48136c0cd264e630fe9fcc8/pytorch_model.bin"),
            "/openai-community/gpt2/resolve/e7da7f221d5bf496a48136c0cd264e630fe9fcc8/pytorch_model.bin" =>
                ReplayResponse.Redirect(302, cdnUrl.AbsoluteUri,
                    ("X-Repo-Commit", "e7da7f221d5bf496a48136c0cd264e630fe9fcc8"),
                    ("X-Linked-Size", "548118077"),
                    ("X-Linked-Etag", "\"7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421\"")),
            _ => ReplayResponse.NotRecorded(request),
        };
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri, Token = new AccessToken(Secret, TokenOrigin.CommandLine) });

        var metadata = await client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse("gpt2"), "e7da7f221d5bf496a48136c0cd264e630fe9fcc8", "pytorch_model.bin");

        Assert.Equal("7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421", metadata.Etag);
        Assert.Equal(cdnUrl, metadata.Location);
        Assert.Equal(2, hub.Requests.Count);
        Assert.All(hub.Requests, r => Assert.Equal($"Bearer {Secret}", r.Authorization));
        Assert.Empty(cdn.Requests);
    }

    [Fact]
    public async Task An_EntryNotFound_HEAD_is_EntryNotFoundException_with_the_commit()
    {
        await using var hub = await ReplayServer.StartAsync(_ => new ReplayResponse
        {
            Status = 404,
            Headers = [new("X-Error-Code", "EntryNotFound"), new("X-Error-Message", "Entry not found"), new("X-Repo-Commit", "dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7")],
        });
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri, Token = new AccessToken(Secret, TokenOrigin.CommandLine) });

        var ex = await Assert.ThrowsAsync<EntryNotFoundException>(() =>
            client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse("google-bert/bert-base-uncased"), "dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7", "tf_model.h5dadazdzazd"));

        Assert.Equal("dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7", ex.Commit);
        Assert.Contains("tf_model.h5dadazdzazd", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", ex.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("X-Repo-Commit", "ETag", "\"a16a55fda99d2f2e7b69cce5cf93ff4ad3049930\"")]
    [InlineData("ETag", "X-Repo-Commit", "f2c752cfc5c0ab6f4bdec59acea69eefbee381c2")]
    public async Task A_HEAD_without_commit_or_etag_is_a_protocol_error(string missing, string presentName, string presentValue)
    {
        await using var hub = await ReplayServer.StartAsync(_ => new ReplayResponse
        {
            HeadContentLength = 10,
            Headers = [new(presentName, presentValue)],
        });
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri });

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() =>
            client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse("org/name"), "main", "config.json"));
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cross_host_302_without_X_Linked_Size_is_a_protocol_error_not_the_redirect_body_length()
    {
        await using var hub = await ReplayServer.StartAsync(_ => ReplayResponse.Redirect(302, "https://cdn.invalid/x",
            ("X-Repo-Commit", "f2c752cfc5c0ab6f4bdec59acea69eefbee381c2"),
            ("X-Linked-Etag", "\"7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421\"")));
        using var client = new HubClient(new HubClientOptions { Endpoint = hub.BaseUri });

        var ex = await Assert.ThrowsAsync<HubProtocolException>(() =>
            client.GetFileMetadataAsync(RepoType.Model, RepoId.Parse("org/name"), "main", "model.bin"));
        Assert.Contains("how large", ex.Message, StringComparison.Ordinal);
    }
}
