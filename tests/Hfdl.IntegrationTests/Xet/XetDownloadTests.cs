using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Xet;

/// <summary>Native Xet downloads by the engine from a real Hfdl.Hub in Xet mode on loopback.</summary>
public sealed class XetDownloadTests
{
    private static readonly byte[] Weights = XetContent.Mixed(3_000_000, seed: 21);

    internal static DownloadOptions Options(string cache, long threshold = 1) => Engine.FastOptions with
    {
        BigFileThreshold = threshold,
        XetCacheFolder = cache,
    };

    internal static long XorbBytes(HubServer server) =>
        server.Requests.Snapshot().Where(r => r.Listener == "cdn" && r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent);

    internal static long BridgeBytes(HubServer server) =>
        server.Requests.Snapshot().Where(r => r.Listener == "cdn" && !r.PathAndQuery.StartsWith("/xorbs/", StringComparison.Ordinal)).Sum(r => r.BodyBytesSent);

    [Theory]
    [InlineData(XetChunkStorage.Mixed)]
    [InlineData(XetChunkStorage.Smallest)]
    public async Task A_xet_backed_file_is_downloaded_natively_and_bit_exact(XetChunkStorage storage)
    {
        var store = new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", repo => repo
            .File("config.json", "{}\n")
            .File("model.safetensors", Weights)
            .Settings(s => s with { Xet = true }));
        await using var server = await HubTestKit.StartAsync(store, o => o with { Xet = o.Xet with { MaxXorbChunks = 8, ChunkStorage = storage } });
        using var target = new TempFolder();
        using var cache = new TempFolder();

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, Options(cache.Path));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.True(XorbBytes(server) > 0);
        Assert.Equal(0, BridgeBytes(server));
        Assert.Equal(XorbBytes(server) + 3, summary.BytesFetched);
        Assert.Equal(0, summary.BytesFromCache);
    }

    /// <summary>A 2.4 MB model with a later revision that rewrites three 20 kB stretches: small xorbs, so few chunks change.</summary>
    internal static (byte[] Old, byte[] New) TwoRevisions(int seed)
    {
        var old = XetContent.Mixed(2_400_000, seed);
        var edited = old.ToArray();
        var random = new Random(seed + 1);
        foreach (var at in new[] { 300_000, 1_200_000, 2_100_000 })
        {
            random.NextBytes(edited.AsSpan(at, 20_000));
        }
        return (old, edited);
    }

    internal static InMemoryRepoStore RevisionStore(byte[] old, byte[] edited, string repo = "acme/versions", HubFaults? faults = null) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, repo, r => r
            .File("model.safetensors", edited)
            .Revision("v1", RevisionKind.Tag, v => v.File("model.safetensors", old), date: new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero))
            .Settings(s => s with { Xet = true, Faults = faults }));

    [Fact]
    public async Task A_second_revision_fetches_only_the_chunks_the_first_did_not_bring()
    {
        var (old, edited) = TwoRevisions(seed: 31);
        await using var server = await HubTestKit.StartAsync(RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var cache = new TempFolder();

        var (v1, _) = await Engine.DownloadAsync(server, "acme/versions", first.Path, Options(cache.Path), revision: "v1");
        var afterFirst = XorbBytes(server);
        var (main, events) = await Engine.DownloadAsync(server, "acme/versions", second.Path, Options(cache.Path));
        var secondBytes = XorbBytes(server) - afterFirst;

        Assert.Equal(old, File.ReadAllBytes(first.Combine("model.safetensors")));
        Assert.Equal(edited, File.ReadAllBytes(second.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.Equal(afterFirst, v1.BytesFetched);
        Assert.Equal(0, v1.BytesFromCache);
        // Three edits of 20 kB touch a few chunks each (and their xorbs' neighbours): far less than the file.
        Assert.InRange(secondBytes, 1, edited.Length / 5);
        Assert.Equal(secondBytes, main.BytesFetched);
        Assert.True(main.BytesFromCache > edited.Length / 2, $"{main.BytesFromCache} bytes from the cache");
        Assert.Equal(0, BridgeBytes(server));
    }

    [Fact]
    public async Task A_run_with_a_lower_cache_size_shrinks_the_cache_even_when_every_chunk_came_from_it()
    {
        var (old, _) = TwoRevisions(seed: 33);
        await using var server = await HubTestKit.StartAsync(RevisionStore(old, old), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var cache = new TempFolder();
        await Engine.DownloadAsync(server, "acme/versions", first.Path, Options(cache.Path));
        var cached = CacheBytes(cache.Path);
        Assert.True(cached > old.Length / 2, $"{cached} bytes cached");

        var bound = cached / 3;
        var (again, _) = await Engine.DownloadAsync(server, "acme/versions", second.Path, Options(cache.Path) with { XetCacheSize = bound });

        Assert.Equal(old, File.ReadAllBytes(second.Combine("model.safetensors")));
        Assert.Equal(0, again.BytesFetched);
        Assert.InRange(CacheBytes(cache.Path), 1, bound);
    }

    [Fact]
    public async Task An_interrupted_run_still_trims_the_chunk_cache_to_its_bound()
    {
        var (old, _) = TwoRevisions(seed: 36);
        await using var server = await HubTestKit.StartAsync(RevisionStore(old, old), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var cache = new TempFolder();
        await Engine.DownloadAsync(server, "acme/versions", first.Path, Options(cache.Path));
        var bound = CacheBytes(cache.Path) / 3;
        using var interrupt = new CancellationTokenSource();

        // Ctrl+C as soon as the plan is made: the run stops before any file is done.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Engine.DownloadAsync(server, "acme/versions", second.Path,
            Options(cache.Path) with { XetCacheSize = bound }, cancellationToken: interrupt.Token,
            onEvent: e => { if (e is PlanReady) { interrupt.Cancel(); } }));

        Assert.InRange(CacheBytes(cache.Path), 1, bound);
    }

    [Fact]
    public async Task A_fetch_range_wider_than_the_terms_it_serves_is_used_but_not_kept_in_the_chunk_cache()
    {
        // The second revision's terms use parts of the first's xorbs. A CAS that signs one chunk more than they use
        // would have that chunk, which no sha256 ever checks, kept for later files (QA poisoned a cache that way: a
        // later file was built from it, failed its hash, and was fetched again whole).
        var (old, edited) = TwoRevisions(seed: 34);
        async Task<(int Entries, byte[] File)> DownloadAsync(XetReconstructionLie lie)
        {
            await using var server = await HubTestKit.StartAsync(
                RevisionStore(old, edited, faults: HubFaults.None with { Xet = new XetFaults { Lie = lie } }),
                o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
            using var target = new TempFolder();
            using var cache = new TempFolder();
            var (summary, _) = await Engine.DownloadAsync(server, "acme/versions", target.Path, Options(cache.Path));
            Assert.Equal(0, summary.FilesFailed);
            return (Directory.GetFiles(Path.Combine(cache.Path, "hfdl-chunks"), "*-*", SearchOption.AllDirectories).Length, File.ReadAllBytes(target.Combine("model.safetensors")));
        }

        var honest = await DownloadAsync(XetReconstructionLie.None);
        var wider = await DownloadAsync(XetReconstructionLie.WiderFetchRange);

        Assert.Equal(edited, honest.File);
        Assert.Equal(edited, wider.File);
        Assert.True(wider.Entries < honest.Entries, $"{wider.Entries} cache entries with the wider ranges, {honest.Entries} without");
    }

    private static long CacheBytes(string cache) =>
        Directory.GetFiles(Path.Combine(cache, "hfdl-chunks"), "*-*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    [Fact]
    public async Task Without_a_chunk_cache_a_second_revision_fetches_everything_again()
    {
        var (old, edited) = TwoRevisions(seed: 32);
        await using var server = await HubTestKit.StartAsync(RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var cache = new TempFolder();
        var noCache = Options(cache.Path) with { XetCacheSize = 0 };

        await Engine.DownloadAsync(server, "acme/versions", first.Path, noCache, revision: "v1");
        var afterFirst = XorbBytes(server);
        var (main, _) = await Engine.DownloadAsync(server, "acme/versions", second.Path, noCache);

        Assert.Equal(edited, File.ReadAllBytes(second.Combine("model.safetensors")));
        Assert.True(XorbBytes(server) - afterFirst >= afterFirst * 9 / 10, "the second revision fetched about as much as the first");
        Assert.Equal(0, main.BytesFromCache);
        Assert.False(Directory.Exists(Path.Combine(cache.Path, "hfdl-chunks")));
    }

    [Fact]
    public async Task A_corrupted_chunk_cache_entry_is_detected_dropped_and_fetched_again()
    {
        var (old, edited) = TwoRevisions(seed: 33);
        await using var server = await HubTestKit.StartAsync(RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var third = new TempFolder();
        using var cache = new TempFolder();
        var (clean, _) = await Engine.DownloadAsync(server, "acme/versions", first.Path, Options(cache.Path), revision: "v1");
        var entries = Directory.GetFiles(Path.Combine(cache.Path, "hfdl-chunks"), "*-*", SearchOption.AllDirectories);
        Assert.NotEmpty(entries);
        foreach (var entry in entries)
        {
            // Flip a byte of every entry's last chunk: a disk that rotted, or another program that wrote there.
            using var stream = new FileStream(entry, FileMode.Open, FileAccess.ReadWrite);
            stream.Position = stream.Length - 100;
            var b = stream.ReadByte();
            stream.Position = stream.Length - 100;
            stream.WriteByte((byte)(b ^ 0x5A));
        }

        var (refetched, events) = await Engine.DownloadAsync(server, "acme/versions", second.Path, Options(cache.Path), revision: "v1");
        var (cached, _) = await Engine.DownloadAsync(server, "acme/versions", third.Path, Options(cache.Path), revision: "v1");

        Assert.Equal(old, File.ReadAllBytes(second.Combine("model.safetensors")));
        Assert.Equal(old, File.ReadAllBytes(third.Combine("model.safetensors")));
        Assert.DoesNotContain(events, e => e is Warning);
        // Every entry failed its check at its last chunk: each range was fetched again, and its entry replaced. The
        // chunks read before the damage came over the network too: nothing was saved, so nothing counts as from the cache.
        Assert.Equal(clean.BytesFetched, refetched.BytesFetched);
        Assert.Equal(0, refetched.BytesFromCache);
        Assert.Equal(0, cached.BytesFetched);
        Assert.Equal(clean.BytesFetched, cached.BytesFromCache);
    }

    /// <summary>
    /// Rewrites the first chunk header of every entry of <paramref name="cache"/> (its uncompressed length one less) and
    /// recomputes the entry's XXH3 checksums: it passes every check, and does not decode.
    /// </summary>
    internal static void RewriteFirstChunkHeaders(string cache)
    {
        const int fixedHeader = 8 + Hfdl.Core.Xet.XetHash.Size + 8;
        foreach (var entry in Directory.GetFiles(Path.Combine(cache, "hfdl-chunks"), "*-*", SearchOption.AllDirectories))
        {
            var bytes = File.ReadAllBytes(entry);
            var name = Path.GetFileName(entry).Split('-');
            var count = int.Parse(name[1], System.Globalization.CultureInfo.InvariantCulture) - int.Parse(name[0], System.Globalization.CultureInfo.InvariantCulture);
            var headerLength = fixedHeader + (count * 12) + 8;
            var data = bytes.AsSpan(headerLength);
            var firstLength = count > 1 ? (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(fixedHeader + 12)) : data.Length;
            var uncompressed = data[5] | (data[6] << 8) | (data[7] << 16);
            uncompressed--;
            (data[5], data[6], data[7]) = ((byte)uncompressed, (byte)(uncompressed >> 8), (byte)(uncompressed >> 16));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(fixedHeader + 4), System.IO.Hashing.XxHash3.HashToUInt64(data[..firstLength]));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(headerLength - 8), System.IO.Hashing.XxHash3.HashToUInt64(bytes.AsSpan(0, headerLength - 8)));
            File.WriteAllBytes(entry, bytes);
        }
    }

    [Fact]
    public async Task A_chunk_cache_entry_that_passes_its_checksums_but_does_not_decode_is_dropped_and_fetched_again()
    {
        var (old, edited) = TwoRevisions(seed: 35);
        await using var server = await HubTestKit.StartAsync(RevisionStore(old, edited), o => o with { Xet = o.Xet with { MaxXorbChunks = 4 } });
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var third = new TempFolder();
        using var cache = new TempFolder();
        var (clean, _) = await Engine.DownloadAsync(server, "acme/versions", first.Path, Options(cache.Path), revision: "v1");
        RewriteFirstChunkHeaders(cache.Path);

        var (refetched, events) = await Engine.DownloadAsync(server, "acme/versions", second.Path, Options(cache.Path), revision: "v1");
        var (cached, _) = await Engine.DownloadAsync(server, "acme/versions", third.Path, Options(cache.Path), revision: "v1");

        Assert.Equal(old, File.ReadAllBytes(second.Combine("model.safetensors")));
        Assert.Equal(old, File.ReadAllBytes(third.Combine("model.safetensors")));
        // Local data gone wrong is no failure of Xet and no fault of the server: no warning, no plain-HTTPS fallback.
        Assert.DoesNotContain(events, e => e is Warning);
        Assert.Equal(0, BridgeBytes(server));
        Assert.Equal(clean.BytesFetched, refetched.BytesFetched);
        Assert.Equal(0, cached.BytesFetched);
    }

    [Fact]
    public async Task A_link_planted_in_the_chunk_cache_is_never_written_through()
    {
        await using var server = await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("model.safetensors", Weights).Settings(s => s with { Xet = true })), o => o with { Xet = o.Xet with { MaxXorbChunks = 8 } });
        using var target = new TempFolder();
        using var cache = new TempFolder();
        using var elsewhere = new TempFolder();
        Directory.CreateSymbolicLink(Path.Combine(cache.Path, "hfdl-chunks"), elsewhere.Path);

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, Options(cache.Path));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere.Path));
        var warning = Assert.Single(events.OfType<Warning>());
        Assert.Contains("is a symbolic link", warning.Message, StringComparison.Ordinal);
        Assert.True(XorbBytes(server) > 0, "Xet still ran, without its cache");
    }

    [Fact]
    public async Task A_file_of_the_users_at_the_chunk_cache_folder_name_is_left_alone_and_the_run_goes_on_without_the_cache()
    {
        await using var server = await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("model.safetensors", Weights).Settings(s => s with { Xet = true })), o => o with { Xet = o.Xet with { MaxXorbChunks = 8 } });
        using var target = new TempFolder();
        using var cache = new TempFolder();
        var precious = Path.Combine(cache.Path, "hfdl-chunks");
        File.WriteAllText(precious, "precious\n");

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, Options(cache.Path));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.Equal("precious\n", File.ReadAllText(precious));
        var warning = Assert.Single(events.OfType<Warning>());
        Assert.Equal($"The Xet chunk cache is not used: '{precious}' is a file, where hfdl keeps the folder of its Xet chunk cache; hfdl leaves it as it is. Move that file away, and later runs use the cache again.", warning.Message);
        Assert.True(XorbBytes(server) > 0, "Xet still ran, without its cache");
    }

    [Fact]
    public async Task A_chunk_cache_folder_option_that_names_a_file_is_said_once_naming_the_option_and_the_run_goes_on_without_the_cache()
    {
        await using var server = await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("model.safetensors", Weights).Settings(s => s with { Xet = true })), o => o with { Xet = o.Xet with { MaxXorbChunks = 8 } });
        using var target = new TempFolder();
        using var cache = new TempFolder();
        var file = Path.Combine(cache.Path, "afile");
        File.WriteAllText(file, "precious\n");

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, Options(file));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.Equal("precious\n", File.ReadAllText(file));
        var warning = Assert.Single(events.OfType<Warning>());
        Assert.Equal($"The Xet chunk cache is not used: XetCacheFolder is '{file}', which is a file; it must be a folder, to hold the Xet chunk cache. Point XetCacheFolder at a folder, or move that file away.", warning.Message);
        Assert.True(XorbBytes(server) > 0, "Xet still ran, without its cache");
    }

    [Fact]
    public async Task A_link_planted_for_one_xorb_in_the_chunk_cache_is_never_written_through()
    {
        await using var server = await HubTestKit.StartAsync(new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/xet", r => r
            .File("model.safetensors", Weights).Settings(s => s with { Xet = true })), o => o with { Xet = o.Xet with { MaxXorbChunks = 1000 } });
        using var probe = new TempFolder();
        using var probeCache = new TempFolder();
        await Engine.DownloadAsync(server, "acme/xet", probe.Path, Options(probeCache.Path));
        var xorbFolder = Directory.GetDirectories(Path.Combine(probeCache.Path, "hfdl-chunks"), "*", SearchOption.AllDirectories).First(d => Path.GetFileName(d).Length == 64);
        using var target = new TempFolder();
        using var cache = new TempFolder();
        using var elsewhere = new TempFolder();
        var planted = Path.Combine(cache.Path, Path.GetRelativePath(probeCache.Path, xorbFolder));
        Directory.CreateDirectory(Path.GetDirectoryName(planted)!);
        Directory.CreateSymbolicLink(planted, elsewhere.Path);

        var (summary, events) = await Engine.DownloadAsync(server, "acme/xet", target.Path, Options(cache.Path));

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, File.ReadAllBytes(target.Combine("model.safetensors")));
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere.Path));
        Assert.Contains(events.OfType<Warning>(), w => w.Message.Contains("is a symbolic link", StringComparison.Ordinal));
    }
}
