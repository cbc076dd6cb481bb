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

    internal static (long Start, long End, long? Total) ContentRange(string headers)
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

    internal static XetFormatException Invalid(string problem) => new($"A multipart/byteranges answer {problem}.");
}

/// <summary>
/// Reads a <c>multipart/byteranges</c> body as it arrives (<see cref="WriteAsync"/>, any cut of the bytes), for byte
/// ranges asked for all at once: each part's bytes go to the caller with the index of its range. The parts must be
/// exactly the ranges asked for, in the order asked (a signed xorb URL authorises those and no other). Holds at most
/// one part's headers (8 KiB); the data itself is never buffered.
/// </summary>
internal sealed class MultipartByteRangeReader(string boundary, IReadOnlyList<(long Start, long End)> ranges)
{
    private const int MaxHeadBytes = 8 * 1024;
    private const int MaxEpilogueBytes = 4 * 1024;
    private readonly byte[] _delimiter = Encoding.ASCII.GetBytes("--" + boundary);
    private readonly byte[] _head = new byte[MaxHeadBytes];
    private int _headLength;
    private int _part = -1;
    private long _remaining;
    private int _epilogue;

    /// <summary>The closing boundary arrived after the last range's bytes.</summary>
    public bool IsComplete { get; private set; }

    /// <summary>Reads the next bytes of the body; <paramref name="onData"/> gets each piece of a part's data, with the part's index.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, Func<int, ReadOnlyMemory<byte>, CancellationToken, ValueTask> onData, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            if (IsComplete)
            {
                _epilogue += bytes.Length;
                if (_epilogue > MaxEpilogueBytes)
                {
                    throw MultipartByteRanges.Invalid("goes on after its closing boundary");
                }
                return;
            }
            if (_remaining > 0)
            {
                var take = (int)Math.Min(_remaining, bytes.Length);
                await onData(_part, bytes[..take], cancellationToken).ConfigureAwait(false);
                _remaining -= take;
                bytes = bytes[take..];
                continue;
            }
            var copied = Math.Min(_head.Length - _headLength, bytes.Length);
            bytes.Span[..copied].CopyTo(_head.AsSpan(_headLength));
            _headLength += copied;
            bytes = bytes[copied..];
            if (ReadHead() is { } leftover)
            {
                // The bytes after the headers are the part's data (and maybe what follows it).
                await WriteAsync(leftover, onData, cancellationToken).ConfigureAwait(false);
            }
            else if (_headLength == _head.Length && !IsComplete)
            {
                throw MultipartByteRanges.Invalid($"has a preamble or part headers longer than {MaxHeadBytes} bytes");
            }
        }
    }

    /// <summary>
    /// Reads a boundary and the part headers after it from <see cref="_head"/>: null when more bytes are needed (or the
    /// closing boundary came), else the bytes that followed the headers (copied: the head is reused).
    /// </summary>
    private byte[]? ReadHead()
    {
        var head = _head.AsSpan(0, _headLength);
        // After a part's data comes CRLF then the boundary; the first boundary may follow a preamble and a CRLF.
        var at = head.StartsWith("\r\n"u8) ? 2 : 0;
        if (_part < 0 && !head.StartsWith(_delimiter))
        {
            var first = head.IndexOf([(byte)'\r', (byte)'\n', .. _delimiter]);
            if (first < 0)
            {
                return null;
            }
            at = first + 2;
        }
        else if (_part >= 0 && at == 0 && head.Length >= 2)
        {
            throw MultipartByteRanges.Invalid("is missing the line break before a boundary");
        }
        if (head.Length < at + _delimiter.Length + 2)
        {
            return null;
        }
        if (!head[at..].StartsWith(_delimiter))
        {
            throw MultipartByteRanges.Invalid($"has more bytes in its part {_part + 1} than its Content-Range says");
        }
        at += _delimiter.Length;
        if (head[at] == '-' && head[at + 1] == '-')
        {
            if (_part + 1 != ranges.Count)
            {
                throw MultipartByteRanges.Invalid($"ends after {_part + 1} of the {ranges.Count} ranges asked for");
            }
            IsComplete = true;
            _epilogue = _headLength - at - 2;
            _headLength = 0;
            return null;
        }
        var headersEnd = head[at..].IndexOf("\r\n\r\n"u8);
        if (headersEnd < 0)
        {
            return null;
        }
        if (_part + 1 >= ranges.Count)
        {
            throw MultipartByteRanges.Invalid($"has more parts than the {ranges.Count} ranges asked for");
        }
        var (start, end, _) = MultipartByteRanges.ContentRange(Encoding.ASCII.GetString(head.Slice(at, headersEnd)));
        var wanted = ranges[_part + 1];
        if (start != wanted.Start || end != wanted.End)
        {
            throw MultipartByteRanges.Invalid($"has a part for bytes {start}-{end} where bytes {wanted.Start}-{wanted.End} were asked for");
        }
        _part++;
        _remaining = end - start + 1;
        var dataAt = at + headersEnd + 4;
        var leftover = head[dataAt..].ToArray();
        _headLength = 0;
        return leftover;
    }
}
