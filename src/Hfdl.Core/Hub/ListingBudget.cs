using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Hfdl.Core.Hub;

/// <summary>
/// What one tree listing may cost, over all its pages: entries (<see cref="HubClientOptions.MaxListingEntries"/>, a
/// page counting as at least one, so empty pages cannot go on for ever), bytes of JSON and <c>Link</c> headers
/// (<see cref="HubClientOptions.MaxListingBytes"/>), and no page twice. Pages are remembered by a 128-bit fingerprint of
/// their URL, so a hostile server's ever longer links cost 16 bytes each, not their length.
/// </summary>
internal sealed class ListingBudget(HubClientOptions options, string what)
{
    private readonly HashSet<UInt128> _seen = [];
    private long _entries;
    private long _bytes;

    /// <summary>What is listed, in words ("model 'org/name'").</summary>
    public string What { get; } = what;

    /// <summary>Pages started so far (the page being fetched included).</summary>
    public int Pages { get; private set; }

    public long RemainingBytes => options.MaxListingBytes - _bytes;

    /// <summary>A new page is about to be fetched; a page seen before means the links loop.</summary>
    public void StartPage(Uri url)
    {
        if (!_seen.Add(Fingerprint(url.AbsoluteUri)))
        {
            throw new HubProtocolException($"The Hub's file listing for {What} loops (page link {HubUrls.Display(url)} was already fetched). hfdl stopped listing; try again later or report it to the server's operator.");
        }
        Pages++;
    }

    /// <summary>Counts a page's entries; past the bound, the listing ends.</summary>
    public void Count(int entries)
    {
        _entries += Math.Max(1, entries);
        if (_entries > options.MaxListingEntries)
        {
            throw new HubProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"The Hub's file listing for {What} goes on past {options.MaxListingEntries:N0} entries ({Pages:N0} pages), more than the largest real repositories have, so hfdl stopped listing. If the repository really is that large, raise the limit with HFDL_MAX_LISTING_ENTRIES; otherwise try again later or report it to the server's operator."));
        }
    }

    /// <summary>Counts the bytes a page took (it was read within <see cref="RemainingBytes"/>).</summary>
    public void Spend(long bytes)
    {
        _bytes += bytes;
        if (_bytes > options.MaxListingBytes)
        {
            throw TooManyBytes();
        }
    }

    public HubProtocolException TooManyBytes() => new(string.Create(CultureInfo.InvariantCulture,
        $"The Hub's file listing for {What} goes on past {options.MaxListingBytes:N0} bytes ({Pages:N0} pages), more than the largest real repositories take, so hfdl stopped listing. If the repository really is that large, raise the limit with HFDL_MAX_LISTING_BYTES; otherwise try again later or report it to the server's operator."));

    private static UInt128 Fingerprint(string url)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(url), hash);
        return BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }
}
