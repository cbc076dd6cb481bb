using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Hashing;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Microsoft.Win32.SafeHandles;

namespace Hfdl.Core.Xet;

/// <summary>
/// A local, content-addressed cache of fetched xorb ranges, shared by every repo, revision and hfdl process: a chunk
/// range of a xorb is fetched over the network once and then read from here, for any file that uses those chunks.
/// <para>
/// Layout (our own, below hf_xet's cache root, whose format is not ours to write): <c>{root}/hfdl-chunks/{xx}/{xorb}/{first}-{end}</c>
/// holds chunks <c>[first, end)</c> of xorb <c>{xorb}</c> (<c>xx</c> its first two hex digits) as the CDN served them
/// (header and stored bytes per chunk), after a header: a magic, the xorb hash and chunk range, each chunk's offset
/// and the XXH3 checksum of its stored form, and the XXH3 of the header itself. Every chunk is checked against its
/// checksum before it is used, so a torn, truncated or corrupted entry is detected, dropped and fetched again, never
/// used. A checksum, not a cryptographic digest: it guards against accidents on the local disk (the file's sha256
/// guards against a lying server, and a file that fails it discards the entries it was built from); at ~15 GB/s it
/// costs nothing next to the network, where BLAKE3 took seconds of CPU per GiB on a 2-core machine.
/// </para>
/// <para>
/// Several processes may share it: entries are written to a temporary name and renamed into place (a reader sees the
/// whole entry or none), identical entries written twice are harmless, and eviction (least recently used first, down
/// to the size bound) runs under a lock file and tolerates entries that vanish under it. Nothing is read, written,
/// touched or deleted through a link: the folders below the root are created with <see cref="SafeFileSystem"/>, every
/// component from <c>hfdl-chunks</c> down to the entry is checked before an entry is read, touched or deleted (a link
/// at the fan-out or xorb folder is refused with a warning; an entry that is a link is ignored and removed), and
/// eviction never descends into a link.
/// </para>
/// </summary>
internal sealed class XetChunkCache
{
    public const string FolderName = "hfdl-chunks";

    private static ReadOnlySpan<byte> Magic => "HFDLXC2\n"u8;

    private const int FixedHeader = 8 + XetHash.Size + 4 + 4;
    private const int ChecksumSize = sizeof(ulong);
    private const int PerChunk = 4 + ChecksumSize;

    /// <summary>
    /// The most chunks an entry's name may span: a xorb holds at most 8192 (<see cref="XorbBuilder.MaxChunks"/>), so
    /// this leaves room for other writers while keeping an entry's header (12 bytes a chunk) far below what an array
    /// holds. A name beyond it is no entry of ours.
    /// </summary>
    private const int MaxEntryChunks = 1 << 20;

    private readonly string _root;
    private readonly ConcurrentDictionary<XetHash, List<CachedRange>> _index = new();
    private long _added;

    /// <param name="root">The Xet cache root (<c>HF_XET_CACHE</c>, else <c>$HF_HOME/xet</c>): the user's choice, which may be a link.</param>
    /// <param name="maxBytes">The bound on the cache's size; the least recently used entries go first.</param>
    public XetChunkCache(string root, long maxBytes)
    {
        _root = Path.GetFullPath(root);
        Folder = Path.Combine(_root, FolderName);
        MaxBytes = maxBytes;
    }

    /// <summary>Where hfdl's entries are.</summary>
    public string Folder { get; }

    public long MaxBytes { get; }

    /// <summary>
    /// False for a run that trusts nothing local (a forced download): no entry is found, so every range comes from the
    /// network; what it fetches is still kept, and eviction still runs.
    /// </summary>
    public bool Reads { get; init; } = true;

    /// <summary>Raised (once per problem) when the cache cannot be used as it should: a link in it, a disk error.</summary>
    public Action<string>? OnWarning { get; set; }

    /// <summary>Throws <see cref="LinkInTargetException"/> when a link sits between the root and the cache's folder.</summary>
    public void CheckForLinks() => SafeFileSystem.CheckNoLinks(_root, Folder);

    /// <summary>
    /// Throws when the cache cannot be used: <see cref="InvalidOptionException"/> (or <see cref="HfdlException"/> for a
    /// default place) naming <paramref name="chosenBy"/> when the root, or a folder on the way to it, is a file;
    /// <see cref="LinkInTargetException"/> when a link sits between the root and the cache's folder;
    /// <see cref="HfdlException"/> when a file has the folder's name.
    /// </summary>
    /// <param name="chosenBy">The setting that chose the root (null: a default), to name in the message.</param>
    public void CheckUsable(PathSetting? chosenBy)
    {
        // Without this, every entry failed on its own with the file system's "already exists" (QA: HF_XET_CACHE naming a
        // file was reported as an entry that could not be written, the other entries "still kept").
        PathSetting.RefuseFileInTheWay(_root, chosenBy, "the Xet chunk cache");
        CheckForLinks();
        if (FileAtFolder() is { } problem)
        {
            throw new HfdlException(problem);
        }
    }

    /// <summary>
    /// Why a file at <c>hfdl-chunks</c> stops the cache, or null. Unlike what is below it, that name sits in the Xet cache
    /// root, beside hf_xet's own folders, where anyone may have put a file: it is never removed (QA: a user's file of that
    /// name was deleted without a word, and a folder made in its place).
    /// </summary>
    private string? FileAtFolder() => !Directory.Exists(Folder) && File.Exists(Folder)
        ? $"'{SafeText.Printable(Folder)}' is a file, where hfdl keeps the folder of its Xet chunk cache; hfdl leaves it as it is. Move that file away, and later runs use the cache again."
        : null;

    /// <summary>
    /// The first link from the cache's folder down to <paramref name="path"/> (both included), or null. A link planted
    /// at any of them (the fan-out folder <c>xx</c> included) could lead anywhere: whatever is behind it is neither
    /// read (it would be re-timestamped) nor deleted (a junk file there is not ours).
    /// </summary>
    private LinkInTargetException? LinkOnTheWay(string path)
    {
        try
        {
            SafeFileSystem.CheckNoLinks(_root, path);
            return null;
        }
        catch (LinkInTargetException ex)
        {
            return ex;
        }
    }

    /// <summary>Says (once per link: the warnings are told apart by their text) that a link in the cache was not followed.</summary>
    private void LinkRefused(LinkInTargetException link) =>
        OnWarning?.Invoke($"The Xet chunk cache does not follow a link planted in it: {link.Message}");

    /// <summary>The smallest entry that holds chunks <c>[first, end)</c> of <paramref name="xorb"/>, or null.</summary>
    public CachedRange? Find(XetHash xorb, int first, int end)
    {
        if (!Reads)
        {
            return null;
        }
        var entries = _index.GetOrAdd(xorb, Scan);
        lock (entries)
        {
            CachedRange? best = null;
            foreach (var entry in entries)
            {
                if (entry.First <= first && entry.End >= end && (best is null || entry.End - entry.First < best.End - best.First))
                {
                    best = entry;
                }
            }
            return best;
        }
    }

    private string XorbFolder(XetHash xorb)
    {
        var hex = xorb.ToString();
        return Path.Combine(Folder, hex[..2], hex);
    }

    private List<CachedRange> Scan(XetHash xorb)
    {
        var entries = new List<CachedRange>();
        var folder = XorbFolder(xorb);
        try
        {
            if (LinkOnTheWay(folder) is { } link)
            {
                LinkRefused(link);
                return entries;
            }
            if (!Directory.Exists(folder))
            {
                return entries;
            }
            foreach (var path in Directory.EnumerateFiles(folder))
            {
                var name = Path.GetFileName(path);
                if (TryParseName(name, out var first, out var end))
                {
                    entries.Add(new CachedRange(xorb, first, end, path));
                }
                else if (LooksLikeEntry(name))
                {
                    // Named like an entry but for a range no xorb has (0-200000000, 5-3): never used, so never dropped
                    // by a failed read either. The folder was just checked for links.
                    AtomicFile.TryDelete(path);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // An unreadable cache is an empty one.
        }
        return entries;
    }

    private static bool TryParseName(string name, out int first, out int end)
    {
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        end = 0;
        first = 0;
        return dash > 0
            && int.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out first)
            && int.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out end)
            && end > first
            && end - first <= MaxEntryChunks;
    }

    /// <summary>Digits, a dash, digits: what an entry's name looks like, whatever the numbers.</summary>
    private static bool LooksLikeEntry(string name)
    {
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && dash < name.Length - 1
            && name.AsSpan(0, dash).IndexOfAnyExceptInRange('0', '9') < 0
            && name.AsSpan(dash + 1).IndexOfAnyExceptInRange('0', '9') < 0;
    }

    private void Forget(CachedRange entry, bool delete)
    {
        if (_index.TryGetValue(entry.Xorb, out var entries))
        {
            lock (entries)
            {
                entries.Remove(entry);
            }
        }
        // Deleting the entry itself is fine when it is a link (that removes the link), but never through a linked folder.
        if (delete && LinkOnTheWay(System.IO.Path.GetDirectoryName(entry.Path)!) is null)
        {
            AtomicFile.TryDelete(entry.Path);
        }
    }

    /// <summary>
    /// Opens <paramref name="entry"/> to read chunks <c>[first, end)</c>, each checked against its digest before it is
    /// handed out (<see cref="Reader.Next"/>). Null when the entry is gone, a link, or its header is damaged (then it is
    /// removed, and the caller fetches the range instead).
    /// </summary>
    public Reader? Open(CachedRange entry, int first, int end)
    {
        if (LinkOnTheWay(System.IO.Path.GetDirectoryName(entry.Path)!) is { } link)
        {
            LinkRefused(link);
            Forget(entry, delete: false);
            return null;
        }
        SafeFileHandle handle;
        try
        {
            // Not opened unless it can hold its own header: a FIFO planted at an entry's name (its size is 0) would
            // block the open until someone writes to it, and a truncated entry is no use either.
            if (SafeFileSystem.LinkTarget(entry.Path) is not null || new FileInfo(entry.Path).Length < HeaderLength(entry.End - entry.First))
            {
                Forget(entry, delete: true);
                return null;
            }
            handle = File.OpenHandle(entry.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Forget(entry, delete: false);
            return null;
        }
        try
        {
            var count = entry.End - entry.First;
            var header = new byte[HeaderLength(count)];
            if (RandomAccess.Read(handle, header, 0) != header.Length || !CheckHeader(header, entry, count))
            {
                handle.Dispose();
                Forget(entry, delete: true);
                return null;
            }
            return new Reader(this, entry, handle, header, first, end);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            handle.Dispose();
            Forget(entry, delete: false);
            return null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Whatever else an entry's bytes can make go wrong is the entry's fault: dropped and fetched again, never the
            // reason Xet fails for a file.
            handle.Dispose();
            Forget(entry, delete: true);
            return null;
        }
    }

    /// <summary>Hands out the chunks of one entry in order, each checked; a damaged one removes the entry and ends the reading.</summary>
    internal sealed class Reader : IDisposable
    {
        private readonly XetChunkCache _cache;
        private readonly CachedRange _entry;
        private readonly SafeFileHandle _handle;
        private readonly byte[] _header;
        private readonly int _end;
        private readonly long _dataLength;
        private readonly byte[] _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(XetReconstructionReader.MaxSerializedChunk);
        private int _next;
        private bool _disposed;

        internal Reader(XetChunkCache cache, CachedRange entry, SafeFileHandle handle, byte[] header, int first, int end)
        {
            _cache = cache;
            _entry = entry;
            _handle = handle;
            _header = header;
            _next = first - entry.First;
            _end = end - entry.First;
            _dataLength = RandomAccess.GetLength(handle) - header.Length;
        }

        /// <summary>The entry was found damaged (and removed) while reading.</summary>
        public bool Damaged { get; private set; }

        /// <summary>Stored bytes handed out so far.</summary>
        public long BytesRead { get; private set; }

        /// <summary>
        /// The next chunk (header and stored bytes), valid until the next call; false at the end, or when it is damaged
        /// (<see cref="Damaged"/>).
        /// </summary>
        public bool Next(out ReadOnlyMemory<byte> chunk)
        {
            chunk = default;
            if (_next >= _end || Damaged)
            {
                return false;
            }
            var count = _entry.End - _entry.First;
            long start = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(FixedHeader + (_next * PerChunk)));
            long stop = _next + 1 < count
                ? BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(FixedHeader + ((_next + 1) * PerChunk)))
                : _dataLength;
            var length = stop - start;
            try
            {
                if (stop > _dataLength || length < XorbChunkHeader.Size || length > _buffer.Length
                    || RandomAccess.Read(_handle, _buffer.AsSpan(0, (int)length), _header.Length + start) != length
                    || XxHash3.HashToUInt64(_buffer.AsSpan(0, (int)length)) != BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(FixedHeader + (_next * PerChunk) + 4)))
                {
                    return Fail();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Fail();
            }
            chunk = _buffer.AsMemory(0, (int)length);
            BytesRead += length;
            _next++;
            return true;
        }

        private bool Fail()
        {
            Damaged = true;
            _cache.Forget(_entry, delete: true);
            return false;
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _handle.Dispose();
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
            if (!Damaged && _next >= _end)
            {
                _cache.Touch(_entry.Path);
            }
        }
    }

    /// <summary>Marks an entry as used now: eviction takes the least recently used first.</summary>
    private void Touch(string path)
    {
        if (LinkOnTheWay(path) is not null)
        {
            return; // Planted since it was opened: setting the time would follow it.
        }
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Another process evicted it meanwhile: it was read whole already.
        }
    }

    /// <summary>Drops entries that served a file which then did not verify: they may hold what a lying server sent.</summary>
    public void Discard(IEnumerable<CachedRange> entries)
    {
        foreach (var entry in entries)
        {
            Forget(entry, delete: true);
        }
    }

    private static int HeaderLength(int count) => checked(FixedHeader + (count * PerChunk) + ChecksumSize);

    private static bool CheckHeader(ReadOnlySpan<byte> header, CachedRange entry, int count)
    {
        if (!header.StartsWith(Magic)
            || !XetHash.FromBytes(header.Slice(8, XetHash.Size)).Equals(entry.Xorb)
            || BinaryPrimitives.ReadInt32LittleEndian(header[(8 + XetHash.Size)..]) != entry.First
            || BinaryPrimitives.ReadInt32LittleEndian(header[(12 + XetHash.Size)..]) != entry.End)
        {
            return false;
        }
        return XxHash3.HashToUInt64(header[..^ChecksumSize]) == BinaryPrimitives.ReadUInt64LittleEndian(header[^ChecksumSize..]);
    }

    /// <summary>Starts an entry for chunks <c>[first, end)</c> of <paramref name="xorb"/>; null when the cache cannot take it now.</summary>
    public Writer? Begin(XetHash xorb, int first, int end)
    {
        if (Volatile.Read(ref _writesFailed) != 0)
        {
            return null;
        }
        if (FileAtFolder() is { } problem)
        {
            // Put there during the run (the run's start checked): said once, and nothing more is written.
            if (Interlocked.Exchange(ref _writesFailed, 1) == 0)
            {
                OnWarning?.Invoke($"The Xet chunk cache is not written: {problem}");
            }
            return null;
        }
        var folder = XorbFolder(xorb);
        try
        {
            CreateFolder(folder);
            var temp = Path.Combine(folder, $".{first}-{end}.{Guid.NewGuid():N}.tmp");
            var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            return new Writer(this, xorb, first, end, temp, handle);
        }
        catch (LinkInTargetException ex)
        {
            OnWarning?.Invoke($"The Xet chunk cache is not written: {ex.Message}");
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WritesFailed(ex);
            return null;
        }
    }

    /// <summary>
    /// Creates the folders down to <paramref name="folder"/> (a xorb's), refusing a link at any of them. A file where a
    /// fan-out or a xorb folder belongs is removed: below <c>hfdl-chunks</c> everything is hfdl's own, and an obstacle
    /// left there would turn every later write of that name into a failure, run after run. A file at <c>hfdl-chunks</c>
    /// itself is not (see <see cref="FileAtFolder"/>): creating the folder then fails.
    /// </summary>
    private void CreateFolder(string folder)
    {
        Directory.CreateDirectory(_root);
        foreach (var current in (string[])[Folder, Path.GetDirectoryName(folder)!, folder])
        {
            SafeFileSystem.RefuseLink(current);
            if (current != Folder && !Directory.Exists(current) && File.Exists(current))
            {
                File.Delete(current);
            }
            Directory.CreateDirectory(current);
            SafeFileSystem.RefuseLink(current);
        }
    }

    private int _writesFailed;
    private int _entryFailed;

    /// <summary>
    /// A write to the cache failed. When its disk is full or read-only, that is said once and no entry is begun for the
    /// rest of the run (each would fail the same way); anything else costs only that entry, said once, and the others
    /// are still written. The cache serves the download and must never fail it, nor be blamed on the target's disk.
    /// </summary>
    private void WritesFailed(Exception problem)
    {
        if (TransientFaults.IsDiskFull(problem) || IsReadOnly(problem))
        {
            if (Interlocked.Exchange(ref _writesFailed, 1) == 0)
            {
                OnWarning?.Invoke($"The Xet chunk cache in '{Folder}' cannot be written ({problem.Message}); what this run fetches is not kept for later runs, and what the cache holds is still used.");
            }
        }
        else if (Interlocked.Exchange(ref _entryFailed, 1) == 0)
        {
            OnWarning?.Invoke($"An entry of the Xet chunk cache in '{Folder}' could not be written ({problem.Message}); its chunks are fetched again when a later run needs them, and the other entries are still kept.");
        }
    }

    /// <summary>EROFS on Linux (30), ERROR_WRITE_PROTECT on Windows (19).</summary>
    private static bool IsReadOnly(Exception problem) => problem is IOException && (problem.HResult & 0xFFFF) is 30 or 19;

    private void Added(CachedRange entry, long bytes)
    {
        var entries = _index.GetOrAdd(entry.Xorb, Scan);
        lock (entries)
        {
            entries.RemoveAll(e => e.First == entry.First && e.End == entry.End);
            entries.Add(entry);
        }
        Interlocked.Add(ref _added, bytes);
    }

    /// <summary>
    /// Evicts the least recently used entries until the cache is within <see cref="MaxBytes"/>, and removes temporary
    /// files a killed process left (untouched for 10 minutes). Runs under a lock file; when another process holds it, that
    /// one is already evicting and this returns at once. Returns the bytes removed.
    /// </summary>
    public long Trim()
    {
        if (!Directory.Exists(Folder) || SafeFileSystem.LinkTarget(Folder) is not null)
        {
            return 0;
        }
        FileStream gate;
        var lockPath = Path.Combine(Folder, ".evict.lock");
        try
        {
            if (SafeFileSystem.LinkTarget(lockPath) is null && Directory.Exists(lockPath))
            {
                // A folder at the lock's name (no process of ours makes one) could never be opened: eviction would stop
                // for good, and the cache grow past its bound without a word. It is ours to remove.
                Directory.Delete(lockPath, recursive: true);
            }
            gate = SafeFileSystem.OpenLockFile(lockPath);
        }
        catch (LinkInTargetException ex)
        {
            OnWarning?.Invoke($"The Xet chunk cache was not trimmed: {ex.Message}");
            return 0;
        }
        catch (Exception ex) when ((ex is IOException or UnauthorizedAccessException) && Directory.Exists(lockPath))
        {
            OnWarning?.Invoke($"The Xet chunk cache was not trimmed: '{lockPath}' is a folder and cannot be removed ({ex.Message}).");
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0; // Another process holds the lock: it is evicting already.
        }
        using (gate)
        {
            var files = new List<FileInfo>();
            // An entry being written grows every 256 KiB, and a connection that delivers nothing for the read timeout
            // (30 s by default) is dropped and its entry abandoned: one untouched for 10 minutes is a killed process's.
            var stale = DateTime.UtcNow - TimeSpan.FromMinutes(10);
            long removed = 0;
            foreach (var info in Files())
            {
                if (info.Name.EndsWith(".tmp", StringComparison.Ordinal))
                {
                    if (info.LastWriteTimeUtc < stale)
                    {
                        AtomicFile.TryDelete(info.FullName);
                    }
                }
                else if (TryParseName(info.Name, out _, out _))
                {
                    files.Add(info);
                }
            }
            var total = files.Sum(f => f.Length);
            foreach (var file in files.OrderBy(f => f.LastWriteTimeUtc))
            {
                if (total <= MaxBytes)
                {
                    break;
                }
                AtomicFile.TryDelete(file.FullName);
                total -= file.Length;
                removed += file.Length;
            }
            if (removed > 0)
            {
                _index.Clear();
            }
            return removed;
        }
    }

    /// <summary>
    /// The files of the cache's xorb folders (<c>xx/{xorb}/*</c>), walked without following a link at any level: a
    /// link at a fan-out or xorb folder is said and skipped (eviction would delete what is behind it), and a link in
    /// place of an entry is no entry (reading it removes it).
    /// </summary>
    private IEnumerable<FileInfo> Files()
    {
        foreach (var fanOut in Children(Folder))
        {
            foreach (var xorb in Folders(fanOut))
            {
                foreach (var file in Children(xorb.FullName))
                {
                    if (file is FileInfo info && info.LinkTarget is null)
                    {
                        yield return info;
                    }
                }
            }
        }

        IEnumerable<DirectoryInfo> Folders(FileSystemInfo parent)
        {
            if (parent is not DirectoryInfo folder)
            {
                yield break;
            }
            if (folder.LinkTarget is { } target)
            {
                LinkRefused(new LinkInTargetException(folder.FullName, target));
                yield break;
            }
            foreach (var child in Children(folder.FullName))
            {
                if (child is DirectoryInfo inner && inner.LinkTarget is { } innerTarget)
                {
                    LinkRefused(new LinkInTargetException(inner.FullName, innerTarget));
                }
                else if (child is DirectoryInfo real)
                {
                    yield return real;
                }
            }
        }
    }

    /// <summary>The entries of <paramref name="folder"/>; none when it vanished or cannot be read (another process evicting, a foreign folder).</summary>
    private static FileSystemInfo[] Children(string folder)
    {
        try
        {
            return new DirectoryInfo(folder).GetFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = 0 });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Bytes this process added to the cache so far.</summary>
    public long BytesAdded => Interlocked.Read(ref _added);

    /// <summary>Writes one entry: chunks appended in order as they arrive, then <see cref="Commit"/> renames it into place.</summary>
    internal sealed class Writer : IDisposable
    {
        private readonly XetChunkCache _cache;
        private readonly XetHash _xorb;
        private readonly int _first;
        private readonly int _end;
        private readonly string _temp;
        private readonly SafeFileHandle _handle;
        private readonly byte[] _header;
        private int _chunks;
        private long _length;
        private bool _done;
        // Chunks are gathered into writes of up to StageBytes (one system call per chunk was a quarter of a cold Xet
        // run's system calls); the buffer is held only while the entry's range arrives.
        private const int StageBytes = 256 * 1024;
        private byte[]? _stage;
        private int _staged;
        // What is appended and not yet written, in order: slices of the stage, and borrowed chunks (written before their
        // owner reuses them). Appending a chunk by reference saves a copy of every byte: the kernel copies it anyway.
        private readonly List<ReadOnlyMemory<byte>> _pending = [];
        private long _pendingBytes;
        private bool _borrowed;

        internal Writer(XetChunkCache cache, XetHash xorb, int first, int end, string temp, SafeFileHandle handle)
        {
            _cache = cache;
            _xorb = xorb;
            _first = first;
            _end = end;
            _temp = temp;
            _handle = handle;
            _header = new byte[HeaderLength(end - first)];
        }

        /// <summary>Chunks appended so far.</summary>
        public int Chunks => _chunks;

        /// <summary>Appends the next chunk (header and stored bytes) and its digest; its bytes are copied.</summary>
        public void Append(ReadOnlySpan<byte> serializedChunk) => Append(serializedChunk, default);

        /// <summary>
        /// Appends the next chunk like <see cref="Append(ReadOnlySpan{byte})"/>, without copying it: its bytes are
        /// written from where they lie by <see cref="WriteBorrowed"/>, which the caller calls before they change.
        /// </summary>
        public void AppendBorrowed(ReadOnlyMemory<byte> serializedChunk) => Append(serializedChunk.Span, serializedChunk);

        private void Append(ReadOnlySpan<byte> serializedChunk, ReadOnlyMemory<byte> borrowed)
        {
            if (_done || _chunks >= _end - _first)
            {
                return;
            }
            var at = FixedHeader + (_chunks * PerChunk);
            BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(at), (uint)_length);
            BinaryPrimitives.WriteUInt64LittleEndian(_header.AsSpan(at + 4), XxHash3.HashToUInt64(serializedChunk));
            try
            {
                if (!borrowed.IsEmpty)
                {
                    _pending.Add(borrowed);
                    _borrowed = true;
                }
                else
                {
                    if (_staged + serializedChunk.Length > StageBytes)
                    {
                        Flush();
                    }
                    if (serializedChunk.Length >= StageBytes)
                    {
                        Flush();
                        RandomAccess.Write(_handle, serializedChunk, _header.Length + _length);
                    }
                    else
                    {
                        _stage ??= System.Buffers.ArrayPool<byte>.Shared.Rent(StageBytes);
                        serializedChunk.CopyTo(_stage.AsSpan(_staged));
                        _pending.Add(_stage.AsMemory(_staged, serializedChunk.Length));
                        _staged += serializedChunk.Length;
                    }
                }
                _pendingBytes += serializedChunk.Length;
                _length += serializedChunk.Length;
                _chunks++;
                if (_chunks == _end - _first)
                {
                    Flush();
                    ReturnStage();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Failed(ex);
            }
        }

        /// <summary>Writes what is pending when some of it is borrowed (<see cref="AppendBorrowed"/>): its owner may reuse it next.</summary>
        public void WriteBorrowed()
        {
            if (!_borrowed || _done)
            {
                return;
            }
            try
            {
                Flush();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Failed(ex);
            }
        }

        /// <summary>A full or failing cache disk: this entry is dropped, the file's bytes go on to the file.</summary>
        private void Failed(Exception ex)
        {
            Abandon();
            _cache.WritesFailed(ex);
        }

        /// <summary>Gives the entry up: the temporary file is removed, later appends and the commit do nothing.</summary>
        private void Abandon()
        {
            ReturnStage();
            if (!_done)
            {
                _done = true;
                _handle.Dispose();
                AtomicFile.TryDelete(_temp);
            }
        }

        /// <summary>
        /// Writes the pending chunks (copied into the stage or borrowed), which end at <see cref="_length"/>, with one
        /// vectored write.
        /// </summary>
        private void Flush()
        {
            if (_pending.Count > 0)
            {
                RandomAccess.Write(_handle, _pending, _header.Length + _length - _pendingBytes);
            }
            _pending.Clear();
            _pendingBytes = 0;
            _staged = 0;
            _borrowed = false;
        }

        private void ReturnStage()
        {
            if (_stage is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(_stage);
                _stage = null;
            }
            _staged = 0;
        }

        /// <summary>Writes the header and renames the entry into place, when every chunk arrived; returns the entry, or null.</summary>
        public CachedRange? Commit()
        {
            if (_done || _chunks != _end - _first)
            {
                return null;
            }
            _done = true;
            Magic.CopyTo(_header);
            _xorb.CopyTo(_header.AsSpan(8, XetHash.Size));
            BinaryPrimitives.WriteInt32LittleEndian(_header.AsSpan(8 + XetHash.Size), _first);
            BinaryPrimitives.WriteInt32LittleEndian(_header.AsSpan(12 + XetHash.Size), _end);
            BinaryPrimitives.WriteUInt64LittleEndian(_header.AsSpan(_header.Length - ChecksumSize), XxHash3.HashToUInt64(_header.AsSpan(0, _header.Length - ChecksumSize)));
            var final = Path.Combine(Path.GetDirectoryName(_temp)!, $"{_first}-{_end}");
            try
            {
                RandomAccess.Write(_handle, _header, 0);
                RandomAccess.SetLength(_handle, _header.Length + _length);
                // No fsync and no early writeback: every chunk is checked when read, so a power cut costs a fetch, never
                // a wrong byte, and the kernel's flusher writes the entries after the file itself is safe. Starting their
                // writeback here (sync_file_range) blocked while the disk queue was full, on the threads of the very
                // connections it follows, and then competed with the file's own flush: a cold 2 GiB Xet download took
                // 6.76 s with it inline, 6.37 s on a thread of its own, 6.08 s without (bench/ab.sh, medians of 4).
                _handle.Dispose();
                if (Directory.Exists(final) && SafeFileSystem.LinkTarget(final) is null)
                {
                    // A folder at the entry's name (no process of ours makes one): renaming over it fails for ever.
                    Directory.Delete(final, recursive: true);
                }
                File.Move(_temp, final, overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _handle.Dispose();
                AtomicFile.TryDelete(_temp);
                _cache.WritesFailed(ex);
                return null;
            }
            var entry = new CachedRange(_xorb, _first, _end, final);
            _cache.Added(entry, _header.Length + _length);
            return entry;
        }

        /// <summary>Drops what was appended (the fetch starts over).</summary>
        public void Reset()
        {
            _chunks = 0;
            _length = 0;
            _staged = 0;
            _pending.Clear();
            _pendingBytes = 0;
            _borrowed = false;
        }

        public void Dispose() => Abandon();
    }
}

/// <summary>An entry of the <see cref="XetChunkCache"/>: chunks <c>[First, End)</c> of <see cref="Xorb"/>, in the file at <see cref="Path"/>.</summary>
internal sealed record CachedRange(XetHash Xorb, int First, int End, string Path);
