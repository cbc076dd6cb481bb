using System.Collections.Concurrent;
using System.Security.Cryptography;
using Hfdl.Core.Xet;

namespace Hfdl.Hub.Server;

/// <summary>
/// Knobs of the Xet CAS the server runs for Xet-backed repos (<see cref="RepoSettings.Xet"/>,
/// <see cref="HubServerOptions.XetForAllRepos"/>). The defaults are the spec's.
/// </summary>
public sealed record XetServerOptions
{
    /// <summary>The largest serialized xorb (the CAS refuses more than 64 MiB).</summary>
    public int MaxXorbBytes { get; init; } = XorbBuilder.MaxSerializedBytes;

    /// <summary>The most chunks in a xorb (the reference client's cap, 8192). Tests lower it to get several xorbs from small files.</summary>
    public int MaxXorbChunks { get; init; } = XorbBuilder.MaxChunks;

    /// <summary>How each chunk is stored.</summary>
    public XetChunkStorage ChunkStorage { get; init; } = XetChunkStorage.Mixed;

    /// <summary>How long a token from <c>xet-read-token</c> is valid (its <c>exp</c>).</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>How the server picks the compression scheme of each chunk.</summary>
public enum XetChunkStorage
{
    /// <summary>
    /// None, LZ4 or byte-grouping + LZ4, picked from the chunk's hash, whatever the data: every file uses all three, so
    /// every client decoder runs (incompressible chunks then carry a few bytes of LZ4 framing).
    /// </summary>
    Mixed,

    /// <summary>The smallest of the three, as an uploader that tries them all would store it.</summary>
    Smallest,
}

/// <summary>
/// The content-addressed store behind Xet-backed repos. For each repo it builds, once per content (the commit ids of
/// its snapshots), the Xet view of its LFS files as an uploader would have made it: snapshots in commit order (date,
/// then id), files in path order, each file chunked, chunks already stored anywhere in the repo referenced again,
/// new chunks packed into xorbs that are cut at the spec's limits and at the end of each snapshot. The result depends
/// on the repo's content only, so the same repo gives the same xorbs and hashes every run. Xorbs are written to a
/// temporary folder and served from there; the folder is deleted when the server stops.
/// </summary>
internal sealed class XetCas : IDisposable
{
    private readonly HubServerOptions _options;
    private readonly ConcurrentDictionary<(RepoType, string), RepoEntry> _repos = new();
    private readonly ConcurrentDictionary<XetHash, StoredXorb> _xorbs = new();
    private readonly Lazy<string> _folder = new(() => Directory.CreateTempSubdirectory("hfdl-hub-xet-").FullName);

    public XetCas(HubServerOptions options) => _options = options;

    /// <summary>Whether the repo serves its LFS files as Xet-backed.</summary>
    public bool IsXet(HostedRepo repo) => repo.Settings.Xet || _options.XetForAllRepos;

    /// <summary>The Xet view of a file, or null when it is not Xet-backed (not an LFS file, empty, or the repo is not Xet).</summary>
    public XetFileEntry? FileOf(HostedRepo repo, IndexedFile file) =>
        IsXet(repo) && IsXetBacked(file) ? IndexOf(repo).BySha256.GetValueOrDefault(file.Sha256!) : null;

    /// <summary>The file of <paramref name="repo"/> whose Xet hash is <paramref name="hash"/>, if any.</summary>
    public XetFileEntry? FindFile(HostedRepo repo, XetHash hash) =>
        IsXet(repo) ? IndexOf(repo).ByHash.GetValueOrDefault(hash) : null;

    public StoredXorb? FindXorb(XetHash hash) => _xorbs.GetValueOrDefault(hash);

    /// <summary>Every xorb stored so far.</summary>
    public IEnumerable<StoredXorb> Xorbs => _xorbs.Values;

    /// <summary>The repo's Xet index, built on first use and again whenever its commits change.</summary>
    public XetRepoIndex IndexOf(HostedRepo repo)
    {
        var snapshots = repo.Revisions.Select(r => r.Snapshot)
            .DistinctBy(s => s.CommitId)
            .OrderBy(s => s.Date)
            .ThenBy(s => s.CommitId, StringComparer.Ordinal)
            .ToList();
        var fingerprint = string.Join(',', snapshots.Select(s => s.CommitId));
        var key = (repo.Type, repo.Id.ToLowerInvariant());
        while (true)
        {
            var entry = _repos.GetOrAdd(key, _ => new RepoEntry(fingerprint, new Lazy<XetRepoIndex>(() => Build(snapshots))));
            if (entry.Fingerprint != fingerprint)
            {
                _repos.TryUpdate(key, new RepoEntry(fingerprint, new Lazy<XetRepoIndex>(() => Build(snapshots))), entry);
                continue;
            }
            try
            {
                return entry.Index.Value;
            }
            catch
            {
                // A failed build (a file that could not be read) is not kept: the next request tries again.
                _repos.TryRemove(new KeyValuePair<(RepoType, string), RepoEntry>(key, entry));
                throw;
            }
        }
    }

    public void Dispose()
    {
        if (_folder.IsValueCreated)
        {
            try
            {
                Directory.Delete(_folder.Value, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A xorb still being served keeps its file open; the folder is in the temporary folder anyway.
            }
        }
    }

    private static bool IsXetBacked(IndexedFile file) => file.IsLfs && file.Size > 0;

    private XetRepoIndex Build(IReadOnlyList<RepoSnapshot> snapshots)
    {
        var builder = new IndexBuilder(this);
        foreach (var snapshot in snapshots)
        {
            foreach (var file in snapshot.Index.Files.Where(IsXetBacked).OrderBy(f => f.Path, StringComparer.Ordinal))
            {
                builder.AddFile(file);
            }
            builder.SealXorb();
        }
        return builder.Finish();
    }

    private StoredXorb Store(XorbBuilder xorb)
    {
        var hash = xorb.Hash();
        if (_xorbs.TryGetValue(hash, out var existing))
        {
            return existing;
        }
        var path = Path.Combine(_folder.Value, hash.ToString());
        var bytes = xorb.ToArray();
        var temporary = path + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
        return _xorbs.GetOrAdd(hash, new StoredXorb(hash, path, [.. xorb.Chunks], bytes.Length));
    }

    private sealed record RepoEntry(string Fingerprint, Lazy<XetRepoIndex> Index);

    /// <summary>Builds one repo's index; see <see cref="XetCas"/>.</summary>
    private sealed class IndexBuilder(XetCas cas)
    {
        private const int ReadBuffer = 1 << 20;

        private readonly Dictionary<XetHash, (int Slot, int Index)> _stored = [];
        private readonly List<StoredXorb?> _slots = [];
        private readonly List<(string Sha256, XetHash Hash, long Size, List<(int Slot, int Index, int Length)> Chunks)> _files = [];
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private XorbBuilder _current = new();
        private int _currentSlot = -1;

        public void AddFile(IndexedFile file)
        {
            if (!_seen.Add(file.Sha256!))
            {
                // The same content in another file or revision: same chunks, same terms.
                return;
            }
            var chunks = new List<(int Slot, int Index, int Length)>();
            var refs = new List<XetChunkRef>();
            var chunker = new XetChunker();
            var pending = new byte[XetChunker.MaxChunkSize];
            var pendingLength = 0;
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ReadBuffer);
            try
            {
                var content = file.File.Content;
                for (long offset = 0; offset < content.Length;)
                {
                    var read = content.ReadAt(offset, buffer.AsSpan(0, (int)Math.Min(ReadBuffer, content.Length - offset)));
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"{file.Path} ended at {offset} of {content.Length} bytes.");
                    }
                    offset += read;
                    var span = buffer.AsSpan(0, read);
                    while (span.Length > 0)
                    {
                        var cut = chunker.NextBoundary(span, out _);
                        var take = cut < 0 ? span.Length : cut;
                        span[..take].CopyTo(pending.AsSpan(pendingLength));
                        pendingLength += take;
                        span = span[take..];
                        if (cut >= 0)
                        {
                            Emit(pending.AsSpan(0, pendingLength), chunks, refs);
                            pendingLength = 0;
                        }
                    }
                }
                if (chunker.Finish() > 0)
                {
                    Emit(pending.AsSpan(0, pendingLength), chunks, refs);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            _files.Add((file.Sha256!, XetHashing.FileHash(refs), file.Size, chunks));
        }

        private void Emit(ReadOnlySpan<byte> data, List<(int Slot, int Index, int Length)> chunks, List<XetChunkRef> refs)
        {
            var hash = XetHashing.ChunkHash(data);
            refs.Add(new XetChunkRef(hash, (ulong)data.Length));
            if (!_stored.TryGetValue(hash, out var location))
            {
                var (scheme, stored) = Compress(hash, data, cas._options.Xet.ChunkStorage);
                if (_currentSlot >= 0 && _current.ChunkCount > 0
                    && !_current.Fits(stored.Length, cas._options.Xet.MaxXorbBytes, cas._options.Xet.MaxXorbChunks))
                {
                    SealXorb();
                }
                if (_currentSlot < 0)
                {
                    _currentSlot = _slots.Count;
                    _slots.Add(null);
                }
                _current.AddStored(hash, scheme, stored, data.Length);
                location = (_currentSlot, _current.ChunkCount - 1);
                _stored[hash] = location;
            }
            chunks.Add((location.Slot, location.Index, data.Length));
        }

        /// <summary>Closes the xorb in progress (at a size limit, and at the end of each snapshot as an upload would).</summary>
        public void SealXorb()
        {
            if (_currentSlot < 0)
            {
                return;
            }
            _slots[_currentSlot] = cas.Store(_current);
            _current = new XorbBuilder();
            _currentSlot = -1;
        }

        public XetRepoIndex Finish()
        {
            SealXorb();
            var bySha = new Dictionary<string, XetFileEntry>(StringComparer.Ordinal);
            var byHash = new Dictionary<XetHash, XetFileEntry>();
            foreach (var (sha256, hash, size, chunks) in _files)
            {
                var terms = new List<XetTerm>();
                var starts = new List<long>();
                long offset = 0;
                foreach (var (slot, index, length) in chunks)
                {
                    var xorb = _slots[slot]!.Hash;
                    if (terms.Count > 0 && terms[^1] is var last && last.Xorb == xorb && last.ChunkEnd == index)
                    {
                        terms[^1] = last with { ChunkEnd = index + 1, UnpackedLength = last.UnpackedLength + length };
                    }
                    else
                    {
                        terms.Add(new XetTerm(xorb, index, index + 1, length));
                        starts.Add(offset);
                    }
                    offset += length;
                }
                var entry = new XetFileEntry(hash, size, [.. terms], [.. starts]);
                bySha[sha256] = entry;
                byHash.TryAdd(hash, entry);
            }
            return new XetRepoIndex(bySha, byHash);
        }

        private static (XetCompression, byte[]) Compress(XetHash hash, ReadOnlySpan<byte> data, XetChunkStorage storage)
        {
            if (storage == XetChunkStorage.Mixed)
            {
                var scheme = (XetCompression)(hash.LastWord % 3);
                return (scheme, XetChunkCodec.Compress(scheme, data));
            }
            var best = (Scheme: XetCompression.None, Stored: data.ToArray());
            foreach (var scheme in new[] { XetCompression.Lz4, XetCompression.ByteGrouping4Lz4 })
            {
                var stored = XetChunkCodec.Compress(scheme, data);
                if (stored.Length < best.Stored.Length)
                {
                    best = (scheme, stored);
                }
            }
            return best;
        }
    }
}

/// <summary>A repo's Xet view: its Xet-backed files by content sha256 and by Xet hash.</summary>
internal sealed record XetRepoIndex(IReadOnlyDictionary<string, XetFileEntry> BySha256, IReadOnlyDictionary<XetHash, XetFileEntry> ByHash);

/// <summary>A Xet-backed file: its Xet hash, size, and reconstruction terms with the file offset each starts at.</summary>
internal sealed record XetFileEntry(XetHash Hash, long Size, XetTerm[] Terms, long[] TermStarts);

/// <summary>A xorb on disk: its serialized length and chunk table.</summary>
internal sealed record StoredXorb(XetHash Hash, string Path, XorbChunkInfo[] Chunks, long Length)
{
    public FileContent Content => FileContent.FromFile(Path);
}
