using System.Buffers;
using System.Threading.Channels;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Microsoft.Win32.SafeHandles;

namespace Hfdl.Core.Transfer;

/// <summary>
/// One big file being fetched by several connections: a preallocated temporary file written at offsets through one
/// handle, the table of its segments (<see cref="SegmentTable"/>), the source of its download URL, and a hasher that
/// follows the contiguous written prefix, reading it back from the page cache, so the sha256 is ready when the last
/// byte lands without a second pass over the file.
/// </summary>
internal sealed class BigFileJob : IAsyncDisposable
{
    private readonly Channel<bool> _written = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly TaskCompletionSource _allWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly CancellationTokenSource _failed = new();
    private readonly object _lifetime = new();
    private Exception? _failure;
    private long _received;
    private bool _closed;

    /// <summary>Bytes the journal last recorded for this file (-1: not yet), so unchanged files are not recorded again.</summary>
    internal long RecordedBytes = -1;

    /// <summary>Connections fetching this file now: 0 while the pool's connections all work on other files.</summary>
    internal int Connections;

    /// <summary>Where the bytes come from while native Xet serves this file (<see cref="XetFileJob.IsActive"/>); null for plain files.</summary>
    internal XetFileJob? Xet { get; set; }

    /// <summary>Its segments are fetched over plain HTTPS (not a Xet file, or Xet fell back).</summary>
    internal bool IsPlain => Xet is not { IsActive: true };

    private BigFileJob(RemoteFile file, string finalPath, string tempPath, SafeFileHandle handle, SegmentTable table, CachedLocationSource source, int attempt, RetryBudget budget, IWriteListener? listener)
    {
        Listener = listener;
        File = file;
        FinalPath = finalPath;
        TempPath = tempPath;
        Handle = handle;
        Table = table;
        Source = source;
        Attempt = attempt;
        Budget = budget;
        if (table.IsComplete)
        {
            _allWritten.TrySetResult();
        }
    }

    public RemoteFile File { get; }

    /// <summary>Told of every write, restart and end; null when nobody follows this file.</summary>
    public IWriteListener? Listener { get; }

    public string FinalPath { get; }

    public string TempPath { get; }

    public SafeFileHandle Handle { get; }

    public SegmentTable Table { get; }

    /// <summary>Where every segment of this file is fetched from.</summary>
    public CachedLocationSource Source { get; }

    /// <summary>The failures all connections of this file may still have in this run.</summary>
    public RetryBudget Budget { get; }

    /// <summary>1 for the first try; 2 after a hash mismatch made hfdl start the file over.</summary>
    public int Attempt { get; }

    public long StartedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Cancelled when the file failed for good, so its other connections stop.</summary>
    public CancellationToken FailedToken => _failed.Token;

    public Exception? Failure => Volatile.Read(ref _failure);

    public Task AllWritten => _allWritten.Task;

    public long BytesReceivedThisRun => Interlocked.Read(ref _received);

    /// <summary>Bytes already on disk, received now or in an earlier run.</summary>
    public long BytesWritten => Table.BytesWritten;

    /// <summary>Opens (or, with <paramref name="done"/> ranges, reopens) the temporary file and plans its segments.</summary>
    public static BigFileJob Open(RemoteFile file, string finalPath, string tempPath, IReadOnlyList<(long Start, long End)> done, long segmentSize, int attempt, CachedLocationSource source, RetryBudget budget, IWriteListener? listener = null)
    {
        Storage.SafeFileSystem.CreateFolderFor(Path.GetDirectoryName(tempPath)!);
        var resume = done.Count > 0 && System.IO.File.Exists(tempPath);
        if (!resume)
        {
            // Nothing of it to keep (a run stopped before its first byte landed still journaled the name): start it
            // afresh. Deleting removes a link planted there, never what it points at.
            Storage.AtomicFile.TryDelete(tempPath);
        }
        var handle = Storage.SafeFileSystem.OpenHandle(
            tempPath,
            resume ? FileMode.Open : FileMode.CreateNew,
            FileAccess.ReadWrite,
            FileShare.None,
            FileOptions.Asynchronous,
            // Reserve the whole file now: a full disk fails here, before any byte is fetched.
            preallocationSize: resume ? 0 : file.Size);
        var table = new SegmentTable(file.Size, segmentSize, resume ? done : []);
        var job = new BigFileJob(file, finalPath, tempPath, handle, table, source, attempt, budget, listener);
        listener?.Opened(job);
        return job;
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
            return _closed ? null : Table.WrittenRanges();
        }
    }

    /// <summary>
    /// Gives the written ranges (<see cref="Checkpoint"/>) to <paramref name="record"/> while the file is open, under
    /// its lock: no record can land after the commit closed the file and the journal marked it complete.
    /// </summary>
    public List<(long Start, long End)>? RecordProgress(Action<List<(long Start, long End)>> record)
    {
        lock (_lifetime)
        {
            if (_closed)
            {
                return null;
            }
            var ranges = Table.WrittenRanges();
            record(ranges);
            return ranges;
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
        Table.Close();
        Listener?.Changed();
    }

    /// <summary>
    /// Closes the file. The write gate and the failure token are left undisposed on purpose: connections of a failed
    /// or aborted job may still be queued on the gate or hold the token, and a disposed SemaphoreSlim drops its queued
    /// waiters without ever completing them (not even on cancellation): such a connection hung the whole run, deaf to
    /// Ctrl+C and SIGTERM. Neither holds a native resource.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        Close();
        Source.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Stops the job without calling it failed (Ctrl+C, or another file's fatal error).</summary>
    public void Abort()
    {
        Table.Close();
        _failed.Cancel();
        _written.Writer.TryWrite(true);
        _allWritten.TrySetCanceled();
        Listener?.Changed();
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
            // A job closed meanwhile (failed or aborted: it cancelled its failure token) takes no more bytes.
            if (Volatile.Read(ref _closed))
            {
                throw new OperationCanceledException(FailedToken);
            }
            RandomAccess.Write(Handle, bytes.Span, position);
        }
        catch (ObjectDisposedException) when (Volatile.Read(ref _closed))
        {
            throw new OperationCanceledException(FailedToken);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Counts bytes as written once they are in the file, and wakes the hasher.</summary>
    public void EndWrite(Segment segment, int count)
    {
        var complete = Table.EndWrite(segment, count);
        Interlocked.Add(ref _received, count);
        _written.Writer.TryWrite(true);
        if (complete)
        {
            _allWritten.TrySetResult();
        }
        Listener?.Changed();
    }

    /// <summary>
    /// The server ignored Range and is sending the whole file from byte 0: start over with one segment that the
    /// calling connection owns. Other connections notice their segments went stale and move on.
    /// </summary>
    public Segment RestartAsWhole()
    {
        var whole = Table.RestartAsWhole();
        _written.Writer.TryWrite(true);
        Listener?.Changed();
        return whole;
    }

    public void Fail(Exception exception)
    {
        Interlocked.CompareExchange(ref _failure, exception, null);
        Table.Close();
        _failed.Cancel();
        _written.Writer.TryWrite(true);
        _allWritten.TrySetException(exception);
        _allWritten.Task.Exception?.Handle(_ => true);
        Listener?.Changed();
    }

    /// <summary>
    /// Hashes the file in order as its prefix becomes written, reading back what the connections wrote. Restarts
    /// from byte 0 when the job restarts. Returns the hex digest once every byte is hashed. Hashing here, on its own
    /// thread, rather than inline from the buffer of the connection at the hash's position, costs a copy from the page
    /// cache but keeps the sha256 off the receive path: on one connection inline hashing made 'raw' 10-20% slower.
    /// The copy overlaps the hash: while one buffer is hashed the next is read back, so when the last bytes land all
    /// at once (native Xet's units finish together) what is left costs the sha256's time, not that plus the copy's.
    /// </summary>
    public async Task<string> HashAsync(CancellationToken cancellationToken)
    {
        const int BufferSize = 1024 * 1024;
        byte[][] buffers = [ArrayPool<byte>.Shared.Rent(BufferSize), ArrayPool<byte>.Shared.Rent(BufferSize)];
        var current = 0; // the buffer that the pending read fills
        Task<int>? pending = null;
        try
        {
            using var hasher = File.Hash.CreateHasher(File.Size);
            var position = 0L;
            var generation = -1;
            while (true)
            {
                if (Failure is { } failure)
                {
                    throw failure;
                }
                var (tableGeneration, frontier) = Table.Frontier(position);
                if (generation != tableGeneration)
                {
                    await DiscardAsync(pending).ConfigureAwait(false);
                    pending = null;
                    generation = tableGeneration;
                    position = 0;
                    hasher.GetHashAndReset();
                    if (File.Hash.Kind == Integrity.HashKind.GitSha1)
                    {
                        hasher.AppendData(Integrity.GitBlobHasher.Header(File.Size));
                    }
                    continue;
                }
                if (position >= File.Size)
                {
                    return Convert.ToHexStringLower(hasher.GetHashAndReset());
                }
                if (pending is null)
                {
                    if (frontier <= position)
                    {
                        await _written.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    pending = ReadBackAsync(buffers[current], position, frontier, cancellationToken);
                }
                var read = await pending.ConfigureAwait(false);
                pending = null;
                var buffer = buffers[current];
                if (read <= 0)
                {
                    throw new IOException($"Reading back '{TempPath}' at {position} returned no data.");
                }
                if (Table.Generation != generation)
                {
                    continue; // The file restarted while we read: these bytes may be stale.
                }
                var next = position + read;
                var (nextGeneration, nextFrontier) = Table.Frontier(next);
                if (nextGeneration == generation && nextFrontier > next)
                {
                    current ^= 1;
                    pending = ReadBackAsync(buffers[current], next, nextFrontier, cancellationToken);
                }
                hasher.AppendData(buffer, 0, read);
                position = next;
            }
        }
        finally
        {
            await DiscardAsync(pending).ConfigureAwait(false); // a buffer goes back to the pool only once no read fills it
            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
        }
    }

    private Task<int> ReadBackAsync(byte[] buffer, long position, long frontier, CancellationToken cancellationToken) =>
        RandomAccess.ReadAsync(Handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, frontier - position)), position, cancellationToken).AsTask();

    private static async Task DiscardAsync(Task<int>? read)
    {
        if (read is null)
        {
            return;
        }
        try
        {
            await read.ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // A read whose bytes nobody wants any more: the caller already has its own reason to stop or restart.
        }
    }
}

/// <summary>
/// Hears of a big file's writes as they land, for readers that follow a download while it runs (the mirror's clients:
/// they read what <see cref="SegmentTable.WrittenEnd"/> says is written, through <see cref="BigFileJob.Handle"/>).
/// Called on the transfer threads right after the bytes are in the file: an implementation must return at once.
/// </summary>
internal interface IWriteListener
{
    /// <summary>The job is open (its temporary file exists, its table says what is written); called once per attempt.</summary>
    void Opened(BigFileJob job);

    /// <summary>Bytes were written, or the job restarted, failed, stopped or closed.</summary>
    void Changed();

    /// <summary>
    /// The whole file matched its hash; it is still being made durable and renamed (its handle stays open until
    /// then). Readers may now have its last byte: the bytes are the file's, whatever the disk does next.
    /// </summary>
    void Verified(BigFileJob job)
    {
    }
}

/// <summary>One connection's segment of a big file, as the target of a <see cref="RangeFetch"/>.</summary>
internal sealed class SegmentTarget(BigFileJob job, Segment segment) : IFetchTarget
{
    /// <summary>The segment this connection owns: a new one after <see cref="RestartFromZero"/>.</summary>
    public Segment Segment { get; private set; } = segment;

    public long TotalSize => job.File.Size;

    /// <summary>
    /// A capped server trickles small reads, and a write (with the job's write lock and a syscall) per read would cost
    /// more CPU than the bytes: reads are gathered into writes of 128 KiB.
    /// </summary>
    public int GatherBytes => 128 * 1024;

    public (long From, long End)? Wanted() => job.Table.Remaining(Segment);

    public async ValueTask<int> WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            var position = job.Table.BeginWrite(Segment, bytes.Length - offset, out var count);
            if (position < 0)
            {
                break;
            }
            await job.WriteAsync(bytes.Slice(offset, count), position, cancellationToken).ConfigureAwait(false);
            job.EndWrite(Segment, count);
            offset += count;
        }
        return offset;
    }

    public bool RestartFromZero()
    {
        Segment = job.RestartAsWhole();
        return true;
    }
}
