using System.Globalization;

namespace Hfdl.Core.Hub;

/// <summary>
/// The sizes hfdl believes. A size from a server (a listing, <c>X-Linked-Size</c>, <c>Content-Length</c>) or from a
/// journal above <see cref="MaxFileSize"/> is refused as implausible, and a repo's files may add up to at most
/// <see cref="MaxTotalSize"/>; so every size, range and sum hfdl computes afterwards (plan totals, the disk-space
/// check, progress, segment arithmetic) stays far from <see cref="long.MaxValue"/> and cannot overflow.
/// </summary>
internal static class FileSizes
{
    /// <summary>1 PiB (2^50 bytes): no real file comes near it (the Hub's largest are tens of GB).</summary>
    public const long MaxFileSize = 1L << 50;

    /// <summary>1 EiB (2^60 bytes): what all the files of one repo may add up to.</summary>
    public const long MaxTotalSize = 1L << 60;

    /// <summary>Refuses a negative or implausibly large size that a server gave for <paramref name="path"/>.</summary>
    public static long Check(string path, long size)
    {
        if (size < 0)
        {
            throw new HubProtocolException(string.Create(CultureInfo.InvariantCulture, $"The Hub listed '{SafeText.Printable(path)}' with a negative size ({size}); hfdl refuses to download it."));
        }
        if (size > MaxFileSize)
        {
            throw new HubProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"The Hub gave '{SafeText.Printable(path)}' a size of {size:N0} bytes, more than 1 PiB, which no real file has; hfdl refuses to download it. Try again later or report it to the server's operator."));
        }
        return size;
    }

    /// <summary>The sum of <paramref name="sizes"/>, refused when it passes <see cref="MaxTotalSize"/> (it never overflows).</summary>
    public static long Total(IEnumerable<long> sizes, string what)
    {
        var total = 0L;
        foreach (var size in sizes)
        {
            if (size < 0 || size > MaxTotalSize - total)
            {
                throw new HubProtocolException($"The files of {what} add up to more than 1 EiB, which no real repository holds; hfdl refuses to plan the download. Try again later or report it to the server's operator.");
            }
            total += size;
        }
        return total;
    }
}
