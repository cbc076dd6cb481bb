using System.Buffers;
using System.Threading.Channels;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Microsoft.Win32.SafeHandles;

namespace Hfdl.Core.Transfer;

/// <summary>
/// One big file being fetched by several connections: a preallocated temporary file written at offsets through one
/// handle, the table of its segments, and a hasher that follows the contiguous written prefix, reading it back from
/// the page cache, so the sha256 is ready when the last byte lands without a second pass over the file.
/// </summary>
internal sealed class BigFileJob : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly Channel<bool> _written = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly TaskCompletionSource _allWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _urlGate = new(1, 1);
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly CancellationTokenSource _failed = new();
    private List<Segment> _segments;
    private int _generation;
    private Uri? _url;
    private long _urlResolvedAt;
    private Exception? _failure;
    private long _received;
    private readonly object _lifetime = new();
    private bool _closed;

    private BigFileJob(RemoteFile file, string finalPath, string tempPath, SafeFileHandle handle, List<Segment> segments, int attempt)
    {
        File = file;
        FinalPath = finalPath;
        TempPath = tempPath;
        Handle = handle;
        _segments = segments;
        Attempt = attempt;
        if (segments.All(s => s.IsComplete))
        {
            _allWritten.TrySetResult();
        }
    }

    public RemoteFile File { get; }

    public string FinalPath { get; }

    public string TempPath { get; }

    public SafeFileHandle Handle { get; }

    /// <summary>1 for the first try; 2 after a hash mismatch made hfdl start the file over.</summary>
    public int Attempt { get; }

    public long StartedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Cancelled when the file failed for good, so its other connections stop.</summary>
    public CancellationToken FailedToken => _failed.Token;

    public Exception? Failure => _failure;

    public Task AllWritten => _allWritten.Task;

    public long BytesReceivedThisRun => Interlocked.Read(ref _received);

    /// <summary>Bytes already on disk, received now or in an earlier run.</summary>
    public long BytesWritten
    {
        get
        {
            lock (_gate)
            {
                return _segments.Sum(s => s.Written);
            }
        }
    }

    /// <summary>Opens (or, with <paramref name="done"/> ranges, reopens) the temporary file and plans its segments.</summary>
    public static BigFileJob Open(RemoteFile file, string finalPath, string tempPath, IReadOnlyList<(long Start, long End)> done, long segmentSize, int attempt)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(tempPath)!);
        var resume = done.Count > 0 && System.IO.File.Exists(tempPath);
        var handle = Storage.SafeFileSystem.OpenHandle(
            tempPath,
            resume ? FileMode.Open : FileMode.CreateNew,
            FileAccess.ReadWrite,
            FileShare.None,
            FileOptions.Asynchronous,
            // Reserve the whole file now: a full disk fails here, before any byte is fetched.
            preallocationSize: resume ? 0 : file.Size);
        var segments = ByteRanges.Plan(file.Size, segmentSize, resume ? done : []);
        return new BigFileJob(file, finalPath, tempPath, handle, segments, attempt);
    }

    /// <summary>
    /// The written ranges, for the journal. They are in the page cache, which outlives this process (kill -9, Ctrl+C,
    /// a crash), so a rerun resumes from them. They are not flushed here: an fsync every few seconds stalled every
    /// connection's writes for up to half a second each time. After a power loss a recorded range may read back as
    /// zeros; the file's hash then fails and hfdl fetches the file again, so the cost is time, never a wrong file.
    /// The scheduler starts the kernel's writeback every 100 ms (<see cref="StartWriteback"/>), so the durable flush
    /// before the final rename (<see cref="FlushToDisk"/>) finds little left to write. Returns null once closed.
    /// </summary>
    public List<(long Start, long End)>? Checkpoint()
    {
        lock (_lifetime)
        {
            if (_closed)
            {
                return null;
            }
            return WrittenRanges();
        }
    }

    /// <summary>Starts the writeback of what is written so far, without waiting (see <see cref="Storage.Writeback"/>).</summary>
    public void StartWriteback()
    {
        lock (_lifetime)
        {
            if (!_closed)
            {
                Storage.Writeback.Start(Handle);
            }
        }
    }

    /// <summary>Makes the whole file durable: called once, after its hash matched and before its final rename.</summary>
    public void FlushToDisk()
    {
        lock (_lifetime)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            RandomAccess.FlushToDisk(Handle);
        }
    }

    public void Close()
    {
        lock (_lifetime)
        {
            _closed = true;
            Handle.Dispose();
        }
    }

    public (long From, long End) Snapshot(Segment segment)
    {
        lock (_gate)
        {
            return (segment.Position, segment.End);
        }
    }

    public ValueTask DisposeAsync()
    {
        Close();
        _urlGate.Dispose();
        _writeGate.Dispose();
        _failed.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Takes the first segment nobody fetches yet, cut to at most about <paramref name="maximumBytes"/>, or
    /// <paramref name="tailBytes"/> in the last quarter of the file (the rest stays queued as its own segment). All
    /// connections finish their last segments together, and the sha256, which follows the contiguous written prefix,
    /// can only hash that last wave once its first segment lands: shorter last segments make that wave, and the wait
    /// for the hash after the last byte, shorter, for a few more requests where they cost least.
    /// </summary>
    public Segment? TakeNext(long maximumBytes, long tailBytes)
    {
        var tailStart = File.Size - (File.Size / 4);
        lock (_gate)
        {
            if (_failure is not null)
            {
                return null;
            }
            for (var i = 0; i < _segments.Count; i++)
            {
                var segment = _segments[i];
                if (segment.Owned || segment.IsComplete)
                {
                    continue;
                }
                // Only cut when the rest is worth a request of its own; cuts fall on 64 KiB boundaries.
                var limit = segment.Position >= tailStart ? Math.Min(tailBytes, maximumBytes) : maximumBytes;
                var cut = (segment.Position + limit) & ~65535L;
                if (limit > 0 && cut > segment.Position && segment.End - cut > limit / 2)
                {
                    _segments.Insert(i + 1, new Segment(cut, segment.End) { Generation = segment.Generation });
                    segment.End = cut;
                }
                segment.Owned = true;
                return segment;
            }
            return null;
        }
    }

    public bool HasUnownedSegments()
    {
        lock (_gate)
        {
            return _failure is null && _segments.Any(s => !s.Owned && !s.IsComplete);
        }
    }

    /// <summary>Stops the job without calling it failed (Ctrl+C, or another file's fatal error).</summary>
    public void Abort()
    {
        _failed.Cancel();
        _written.Writer.TryWrite(true);
        _allWritten.TrySetCanceled();
    }

    /// <summary>Bytes an idle connection could steal: the largest remainder of an owned segment.</summary>
    public long LargestStealable()
    {
        lock (_gate)
        {
            return _failure is not null ? 0 : _segments.Where(s => s.Owned).Select(StealableBytes).DefaultIfEmpty(0).Max();
        }
    }

    /// <summary>
    /// Work stealing: splits the owned segment with the most bytes left and hands its second half to the caller, so
    /// the tail of a file is fetched by every idle connection instead of by the slowest one.
    /// </summary>
    public Segment? Steal(long minimumBytes)
    {
        lock (_gate)
        {
            if (_failure is not null)
            {
                return null;
            }
            var victim = _segments.Where(s => s.Owned).OrderByDescending(StealableBytes).FirstOrDefault();
            if (victim is null || StealableBytes(victim) < 2 * minimumBytes)
            {
                return null;
            }
            var from = Math.Max(victim.Position, victim.InFlightEnd);
            var middle = from + ((victim.End - from) / 2);
            middle = Math.Min(victim.End - minimumBytes, (middle + 65535) & ~65535L);
            var stolen = new Segment(middle, victim.End) { Owned = true, Generation = _generation };
            victim.End = middle;
            _segments.Insert(_segments.IndexOf(victim) + 1, stolen);
            return stolen;
        }
    }

    private static long StealableBytes(Segment s) => s.End - Math.Max(s.Position, s.InFlightEnd);

    public void Release(Segment segment)
    {
        lock (_gate)
        {
            segment.Owned = false;
            segment.InFlightEnd = segment.Position;
        }
    }

    /// <summary>
    /// Reserves the next bytes of <paramref name="segment"/> for writing: at most <paramref name="available"/> and
    /// never past its (possibly shrunk) end. Returns the file offset, or -1 when the segment is done or stale.
    /// </summary>
    public long BeginWrite(Segment segment, int available, out int count)
    {
        lock (_gate)
        {
            count = (int)Math.Min(available, segment.End - segment.Position);
            if (count <= 0 || segment.Generation != _generation || _failure is not null)
            {
                count = 0;
                return -1;
            }
            segment.InFlightEnd = segment.Position + count;
            return segment.Position;
        }
    }

    /// <summary>
    /// Writes at <paramref name="position"/>, one connection at a time. The kernel serialises writes to one inode anyway
    /// (ext4 and tmpfs hold its rwsem), and dozens of connections contending for it spin on the lock in the kernel:
    /// measured 13 CPU-s of system time for a 2 GiB file on 32 connections, against a few hundred ms when they queue
    /// here instead. The write itself is a copy into the page cache, so it runs inline (no thread-pool hop).
    /// </summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, long position, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            RandomAccess.Write(Handle, bytes.Span, position);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Counts bytes as written once they are in the file, and wakes the hasher.</summary>
    public void EndWrite(Segment segment, int count)
    {
        var complete = false;
        lock (_gate)
        {
            if (segment.Generation != _generation)
            {
                return;
            }
            segment.Written += count;
            segment.InFlightEnd = segment.Position;
            if (segment.IsComplete && _segments.All(s => s.IsComplete))
            {
                complete = true;
            }
        }
        Interlocked.Add(ref _received, count);
        _written.Writer.TryWrite(true);
        if (complete)
        {
            _allWritten.TrySetResult();
        }
    }

    /// <summary>
    /// The server ignored Range and is sending the whole file from byte 0: start over with one segment that the
    /// calling connection owns. Other connections notice their segments went stale and move on.
    /// </summary>
    public Segment RestartAsWhole()
    {
        lock (_gate)
        {
            _generation++;
            var whole = new Segment(0, File.Size) { Owned = true, Generation = _generation };
            _segments = [whole];
            _written.Writer.TryWrite(true);
            return whole;
        }
    }

    public bool IsStale(Segment segment)
    {
        lock (_gate)
        {
            return segment.Generation != _generation || _failure is not null;
        }
    }

    /// <summary>The written ranges, for the journal (record them only after flushing the file).</summary>
    public List<(long Start, long End)> WrittenRanges()
    {
        lock (_gate)
        {
            return ByteRanges.Normalize(_segments.Select(s => (s.Start, s.Position)));
        }
    }

    public void Fail(Exception exception)
    {
        lock (_gate)
        {
            _failure ??= exception;
        }
        _failed.Cancel();
        _written.Writer.TryWrite(true);
        _allWritten.TrySetException(exception);
        _allWritten.Task.Exception?.Handle(_ => true);
    }

    /// <summary>The URL segments are fetched from: resolved once through the Hub (a HEAD) and reused, until it is
    /// refused (signed URLs expire) or older than <paramref name="refreshInterval"/>.</summary>
    public async Task<Uri> GetDownloadUrlAsync(HubClient client, RepoType type, RepoId id, string commit, TimeSpan refreshInterval, TimeProvider time, CancellationToken cancellationToken)
    {
        await _urlGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_url is not null && time.GetElapsedTime(_urlResolvedAt) < refreshInterval)
            {
                return _url;
            }
            var metadata = await client.GetFileMetadataAsync(type, id, commit, File.Path, cancellationToken).ConfigureAwait(false);
            if (metadata.Size != File.Size)
            {
                throw new HubProtocolException($"The Hub's listing says '{File.Path}' has {File.Size} bytes, but its download endpoint says {metadata.Size}; hfdl refuses to guess which is right. Try again later.");
            }
            if (!string.Equals(metadata.Etag, File.Etag, StringComparison.OrdinalIgnoreCase) && Integrity.ContentHash.TryFromEtag(metadata.Etag, out _))
            {
                throw new HubProtocolException($"The Hub's listing and its download endpoint disagree on the content of '{File.Path}' (etag {metadata.Etag} vs {File.Etag}).");
            }
            _url = metadata.Location;
            _urlResolvedAt = time.GetTimestamp();
            return _url;
        }
        finally
        {
            _urlGate.Release();
        }
    }

    public void InvalidateUrl(Uri refused)
    {
        if (_url == refused)
        {
            _url = null;
        }
    }

    /// <summary>
    /// Hashes the file in order as its prefix becomes written, reading back what the connections wrote. Restarts
    /// from byte 0 when the job restarts. Returns the hex digest once every byte is hashed. Hashing here, on its own
    /// thread, rather than inline from the buffer of the connection at the hash's position, costs a copy from the page
    /// cache but keeps the sha256 off the receive path: on one connection inline hashing made 'raw' 10-20% slower.
    /// </summary>
    public async Task<string> HashAsync(CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1024 * 1024);
        try
        {
            using var hasher = File.Hash.CreateHasher(File.Size);
            var position = 0L;
            var generation = -1;
            while (true)
            {
                long frontier;
                lock (_gate)
                {
                    if (_failure is not null)
                    {
                        throw _failure;
                    }
                    if (generation != _generation)
                    {
                        generation = _generation;
                        position = 0;
                        hasher.GetHashAndReset();
                        if (File.Hash.Kind == Integrity.HashKind.GitSha1)
                        {
                            hasher.AppendData(Integrity.GitBlobHasher.Header(File.Size));
                        }
                    }
                    frontier = Frontier(position);
                }
                if (position >= File.Size)
                {
                    return Convert.ToHexStringLower(hasher.GetHashAndReset());
                }
                if (frontier <= position)
                {
                    await _written.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }
                var count = (int)Math.Min(buffer.Length, frontier - position);
                var read = await RandomAccess.ReadAsync(Handle, buffer.AsMemory(0, count), position, cancellationToken).ConfigureAwait(false);
                if (read <= 0)
                {
                    throw new IOException($"Reading back '{TempPath}' at {position} returned no data.");
                }
                lock (_gate)
                {
                    if (generation != _generation)
                    {
                        continue; // The file restarted while we read: these bytes may be stale.
                    }
                }
                hasher.AppendData(buffer, 0, read);
                position += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Caller holds _gate. The end of the written run of bytes that starts at or before `from`.
    private long Frontier(long from)
    {
        var frontier = from;
        foreach (var segment in _segments)
        {
            if (segment.End <= frontier && segment.IsComplete)
            {
                continue;
            }
            if (segment.Start > frontier)
            {
                break;
            }
            frontier = Math.Max(frontier, segment.Position);
            if (!segment.IsComplete)
            {
                break;
            }
        }
        return frontier;
    }
}
