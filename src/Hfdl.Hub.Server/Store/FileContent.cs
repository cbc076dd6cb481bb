using System.Security.Cryptography;
using System.Text;
using Hfdl.Core.Integrity;

namespace Hfdl.Hub.Server;

/// <summary>
/// The bytes of one repository file, read at any offset. The server streams from it with a pooled buffer, so an
/// implementation never needs to hold a whole file in memory. Digests are computed once, on first use, and cached.
/// </summary>
public abstract class FileContent
{
    private readonly Lazy<string> _sha256;
    private readonly Lazy<string> _gitSha1;

    protected FileContent()
    {
        _sha256 = new Lazy<string>(ComputeSha256);
        _gitSha1 = new Lazy<string>(ComputeGitSha1);
    }

    /// <summary>The size in bytes.</summary>
    public abstract long Length { get; }

    /// <summary>The content sha256, lower-case hex (what the Hub calls <c>lfs.oid</c>).</summary>
    public string Sha256 => _sha256.Value;

    /// <summary>The git blob sha1 of the content, lower-case hex (the <c>oid</c> of a regular file).</summary>
    public string GitSha1 => _gitSha1.Value;

    /// <summary>
    /// Copies up to <c>destination.Length</c> bytes starting at <paramref name="offset"/>; returns how many were copied,
    /// 0 at or past the end.
    /// </summary>
    public abstract int ReadAt(long offset, Span<byte> destination);

    /// <summary>The asynchronous form of <see cref="ReadAt"/>; file-backed content overrides it.</summary>
    public virtual ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ReadAt(offset, destination.Span));
    }

    /// <summary>
    /// Opens a reader for one sequential transfer; file-backed content keeps one handle open for it instead of one per
    /// read. Dispose it when the transfer ends.
    /// </summary>
    public virtual IContentReader OpenReader() => new DelegatingReader(this);

    /// <summary>
    /// Opens a reader for one response that sends the <paramref name="length"/> bytes from <paramref name="start"/>:
    /// content still being written (a mirror's transfer) may hold that response's last byte back until it can vouch
    /// for the bytes. Others read as <see cref="OpenReader()"/> does.
    /// </summary>
    public virtual IContentReader OpenReader(long start, long length) => OpenReader();

    /// <summary>Writes the whole content to <paramref name="destination"/>.</summary>
    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        var buffer = new byte[Math.Min(1 << 20, Math.Max(1, Length))];
        for (long offset = 0; offset < Length;)
        {
            var read = await ReadAtAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException($"The content ended at {offset} of {Length} bytes.");
            }
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            offset += read;
        }
    }

    /// <summary>The whole content as an array; for tests on small files.</summary>
    public byte[] ToArray()
    {
        if (Length > Array.MaxLength)
        {
            throw new InvalidOperationException("The content is too large for one array.");
        }
        var bytes = new byte[Length];
        var done = 0;
        while (done < bytes.Length)
        {
            var read = ReadAt(done, bytes.AsSpan(done));
            if (read == 0)
            {
                throw new EndOfStreamException($"The content ended at {done} of {Length} bytes.");
            }
            done += read;
        }
        return bytes;
    }

    public static FileContent FromBytes(byte[] bytes) => new ByteArrayContent(bytes);

    /// <summary>UTF-8 text, without a byte order mark.</summary>
    public static FileContent FromText(string text) => new ByteArrayContent(Encoding.UTF8.GetBytes(text));

    /// <summary>A file on disk, read at request time (its size is taken now).</summary>
    public static FileContent FromFile(string path) => new PhysicalFileContent(path, new FileInfo(path).Length, null);

    public static implicit operator FileContent(byte[] bytes) => FromBytes(bytes);

    public static implicit operator FileContent(string text) => FromText(text);

    /// <summary>Hashes the content; a store that remembers digests overrides this.</summary>
    protected virtual string ComputeSha256() => ComputeDigest(IncrementalHash.CreateHash(HashAlgorithmName.SHA256));

    /// <summary>Hashes the content as a git blob; a store that remembers digests overrides this.</summary>
    protected virtual string ComputeGitSha1() => ComputeDigest(GitBlobHasher.Create(Length));

    private string ComputeDigest(IncrementalHash hash)
    {
        // A pooled buffer no larger than the content: a fresh 1 MiB array per file made indexing a repo of 400,000
        // small files allocate 400 GB (minutes of GC).
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Clamp(Length, 1, 1 << 20));
        try
        {
            using (hash)
            {
                for (long offset = 0; offset < Length;)
                {
                    var read = ReadAt(offset, buffer);
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"The content ended at {offset} of {Length} bytes.");
                    }
                    hash.AppendData(buffer, 0, read);
                    offset += read;
                }
                return Convert.ToHexStringLower(hash.GetHashAndReset());
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Reads one content during one transfer.</summary>
public interface IContentReader : IDisposable
{
    ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);
}

internal sealed class DelegatingReader(FileContent content) : IContentReader
{
    public ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        content.ReadAtAsync(offset, destination, cancellationToken);

    public void Dispose()
    {
    }
}

internal sealed class ByteArrayContent(byte[] bytes) : FileContent
{
    public override long Length => bytes.LongLength;

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset >= bytes.Length)
        {
            return 0;
        }
        var count = (int)Math.Min(destination.Length, bytes.Length - offset);
        bytes.AsSpan((int)offset, count).CopyTo(destination);
        return count;
    }
}

/// <summary>A file on disk. Digests can be kept in a cache shared between scans (keyed by path, size and mtime).</summary>
internal sealed class PhysicalFileContent(string path, long length, DigestCache.Entry? cached) : FileContent
{
    public string FullPath => path;

    public override long Length => length;

    // Under the entry's lock, so that parallel requests for a new large file hash it once.
    protected override string ComputeSha256()
    {
        if (cached is null)
        {
            return base.ComputeSha256();
        }
        lock (cached.Gate)
        {
            return cached.Sha256 ??= base.ComputeSha256();
        }
    }

    protected override string ComputeGitSha1()
    {
        if (cached is null)
        {
            return base.ComputeGitSha1();
        }
        lock (cached.Gate)
        {
            return cached.GitSha1 ??= base.ComputeGitSha1();
        }
    }

    public override int ReadAt(long offset, Span<byte> destination)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var limit = (int)Math.Min(destination.Length, Math.Max(0, length - offset));
        return limit == 0 ? 0 : RandomAccess.Read(handle, destination[..limit], offset);
    }

    public override IContentReader OpenReader() => new HandleReader(
        File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous),
        length);

    public override async ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        // One handle per read keeps the type stateless; transfers use OpenReader and keep theirs.
        using var handle = File.OpenHandle(
            path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
        var limit = (int)Math.Min(destination.Length, Math.Max(0, length - offset));
        return limit == 0 ? 0 : await RandomAccess.ReadAsync(handle, destination[..limit], offset, cancellationToken).ConfigureAwait(false);
    }
}

internal sealed class HandleReader(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long length) : IContentReader
{
    public async ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var limit = (int)Math.Min(destination.Length, Math.Max(0, length - offset));
        return limit == 0 ? 0 : await RandomAccess.ReadAsync(handle, destination[..limit], offset, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => handle.Dispose();
}

/// <summary>Digests of files on disk, remembered while path, size and modification time stay the same.</summary>
internal sealed class DigestCache
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long, long), Entry> _entries = new();

    public Entry Get(string path, long size, DateTime lastWriteUtc) =>
        _entries.GetOrAdd((path, size, lastWriteUtc.Ticks), _ => new Entry());

    internal sealed class Entry
    {
        public Lock Gate { get; } = new();

        public string? Sha256 { get; set; }

        public string? GitSha1 { get; set; }
    }
}
