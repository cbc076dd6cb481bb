using System.Globalization;
using System.Text;

namespace Hfdl.Core.Xet;

/// <summary>One part of a <c>multipart/byteranges</c> body: its <c>Content-Range</c> and where its bytes are in the body.</summary>
internal readonly record struct ByteRangePart(long Start, long End, long? Total, int DataOffset, int DataLength);

/// <summary>
/// Reads a <c>multipart/byteranges</c> body (RFC 9110 §14.6; RFC 2046 §5.1), the answer to a request for several byte
/// ranges, such as the signed ranges of one xorb URL. Each part's length is taken from its <c>Content-Range</c>, not
/// from searching the boundary, so binary data that happens to contain the boundary cannot cut a part short.
/// </summary>
internal static class MultipartByteRanges
{
    /// <summary>The boundary of a <c>multipart/byteranges</c> content type, or null when it is not one.</summary>
    public static string? Boundary(string? contentType)
    {
        if (contentType is null || !contentType.TrimStart().StartsWith("multipart/byteranges", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        foreach (var parameter in contentType.Split(';').Skip(1))
        {
            var trimmed = parameter.Trim();
            if (trimmed.StartsWith("boundary=", StringComparison.OrdinalIgnoreCase))
            {
                var value = trimmed["boundary=".Length..].Trim('"');
                return value.Length is > 0 and <= 70 ? value : null;
            }
        }
        return null;
    }

    /// <summary>The parts of <paramref name="body"/>, in order; a <see cref="XetFormatException"/> when it is malformed.</summary>
    public static IReadOnlyList<ByteRangePart> Parse(ReadOnlySpan<byte> body, string boundary)
    {
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        // The body starts with the first delimiter, or with a preamble then CRLF and the delimiter.
        var position = body.StartsWith(delimiter) ? 0 : IndexAfterCrlf(body, delimiter);
        if (position < 0)
        {
            throw Invalid("does not contain its boundary");
        }
        position += delimiter.Length;
        var parts = new List<ByteRangePart>();
        while (true)
        {
            if (body.Length - position >= 2 && body[position] == '-' && body[position + 1] == '-')
            {
                return parts.Count > 0 ? parts : throw Invalid("has no parts");
            }
            position = SkipCrlf(body, position);
            var headersEnd = body[position..].IndexOf("\r\n\r\n"u8);
            if (headersEnd < 0)
            {
                throw Invalid("has a part whose headers do not end");
            }
            var (start, end, total) = ContentRange(Encoding.ASCII.GetString(body.Slice(position, headersEnd)));
            position += headersEnd + 4;
            var length = end - start + 1;
            if (length > body.Length - position)
            {
                throw Invalid($"has a part for bytes {start}-{end} that is cut short");
            }
            parts.Add(new ByteRangePart(start, end, total, position, (int)length));
            position += (int)length;
            position = SkipCrlf(body, position);
            if (!body[position..].StartsWith(delimiter))
            {
                throw Invalid($"has a part for bytes {start}-{end} not followed by its boundary");
            }
            position += delimiter.Length;
        }
    }

    private static (long Start, long End, long? Total) ContentRange(string headers)
    {
        foreach (var line in headers.Split("\r\n"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !line[..colon].Trim().Equals("Content-Range", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var value = line[(colon + 1)..].Trim();
            var slash = value.IndexOf('/', StringComparison.Ordinal);
            var dash = value.IndexOf('-', StringComparison.Ordinal);
            if (value.StartsWith("bytes ", StringComparison.OrdinalIgnoreCase) && dash > 6 && slash > dash
                && long.TryParse(value.AsSpan(6, dash - 6), NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                && long.TryParse(value.AsSpan(dash + 1, slash - dash - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var end)
                && end >= start && end - start < int.MaxValue)
            {
                var totalText = value.AsSpan(slash + 1);
                long? total = totalText is "*" ? null
                    : long.TryParse(totalText, NumberStyles.None, CultureInfo.InvariantCulture, out var t) && t > end ? t
                    : throw Invalid($"has a part with an invalid Content-Range '{Hub.SafeText.Printable(value)}'");
                return (start, end, total);
            }
            throw Invalid($"has a part with an invalid Content-Range '{Hub.SafeText.Printable(value)}'");
        }
        throw Invalid("has a part without a Content-Range");
    }

    private static int IndexAfterCrlf(ReadOnlySpan<byte> body, byte[] delimiter)
    {
        var at = body.IndexOf([(byte)'\r', (byte)'\n', .. delimiter]);
        return at < 0 ? -1 : at + 2;
    }

    private static int SkipCrlf(ReadOnlySpan<byte> body, int position) =>
        body.Length - position >= 2 && body[position] == '\r' && body[position + 1] == '\n'
            ? position + 2
            : throw Invalid("is missing a line break where one belongs");

    private static XetFormatException Invalid(string problem) => new($"A multipart/byteranges answer {problem}.");
}
