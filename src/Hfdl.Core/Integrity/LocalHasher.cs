using System.Buffers;

namespace Hfdl.Core.Integrity;

/// <summary>Hashes files already on disk, in the digest the Hub uses for them.</summary>
internal static class LocalHasher
{
    public static async Task<string> HashFileAsync(string path, ContentHash expected, CancellationToken cancellationToken)
    {
        if (Storage.SafeFileSystem.IsSpecialFile(path))
        {
            // Opening a FIFO waits for a writer for ever; a device such as /dev/zero never ends.
            throw new IOException($"'{path}' is not a regular file (a FIFO, a device or a socket); hfdl does not read it.");
        }
        await using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read,
            BufferSize = 0,
            Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
        });
        using var hasher = expected.CreateHasher(stream.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(1024 * 1024);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hasher.AppendData(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Convert.ToHexStringLower(hasher.GetHashAndReset());
    }
}
