using System.Buffers;
using System.Globalization;
using System.IO.Compression;

namespace Hfdl.Hub.Server;

/// <summary>A parsed <c>Range</c> header against a known size.</summary>
internal readonly record struct ByteRange(long Start, long Length, bool Unsatisfiable)
{
    public static ByteRange? Parse(string? header, long size)
    {
        // Zero-byte files get no range handling at all (hub-api.md §4.5): 200 with an empty body.
        if (string.IsNullOrWhiteSpace(header) || size == 0)
        {
            return null;
        }
        header = header.Trim();
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var spec = header["bytes=".Length..].Trim();
        if (spec.Contains(','))
        {
            // Several ranges: a server may ignore Range and send everything, which this one does.
            return null;
        }
        var dash = spec.IndexOf('-');
        if (dash < 0)
        {
            return null;
        }
        var first = spec[..dash].Trim();
        var last = spec[(dash + 1)..].Trim();
        if (first.Length == 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix))
            {
                return null;
            }
            return suffix == 0
                ? new ByteRange(0, 0, Unsatisfiable: true)
                : new ByteRange(Math.Max(0, size - suffix), Math.Min(suffix, size), false);
        }
        if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return null;
        }
        var end = size - 1;
        if (last.Length > 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out end) || end < start)
            {
                return null;
            }
        }
        if (start >= size)
        {
            return new ByteRange(0, 0, Unsatisfiable: true);
        }
        end = Math.Min(end, size - 1);
        return new ByteRange(start, end - start + 1, false);
    }
}

/// <summary>
/// Sends file bytes: status, length and range headers, then the body from the content source through a pooled
/// buffer, applying the throughput limits and body faults in force.
/// </summary>
internal static class ContentSender
{
    private const int ChunkSize = 256 * 1024;

    /// <param name="etag">The quoted ETag to send.</param>
    /// <param name="fileKey">Identifies the file for "once per file" faults.</param>
    public static async Task ServeAsync(
        HubRequest request,
        FileContent content,
        string etag,
        string contentType,
        string fileKey,
        CancellationToken cancellationToken)
    {
        var response = request.Response;
        var size = content.Length;
        var plan = request.State.Faults.PlanTransfer(request, fileKey, size);
        response.Headers.ETag = etag;
        response.Headers.AcceptRanges = "bytes";
        response.ContentType = contentType;

        var ifNoneMatch = request.Http.Request.Headers.IfNoneMatch.ToString();
        if (ifNoneMatch.Length > 0 && ifNoneMatch.Split(',').Any(t => t.Trim() == "*" || t.Trim().TrimStart('W', '/') == etag))
        {
            // The Hub answers 304 to a matching If-None-Match (hub-api.md §4.7).
            response.StatusCode = 304;
            return;
        }
        var range = plan.IgnoreRange || plan.Gzip ? null : ByteRange.Parse(request.Http.Request.Headers.Range.ToString(), size);
        if (range is { Unsatisfiable: true })
        {
            response.StatusCode = 416;
            response.Headers.ContentRange = "bytes */" + size.ToString(CultureInfo.InvariantCulture);
            response.ContentLength = 0;
            return;
        }
        var start = range?.Start ?? 0;
        var length = range?.Length ?? size;
        if (range is { } r)
        {
            response.StatusCode = 206;
            response.Headers.ContentRange = FormattableString.Invariant($"bytes {r.Start}-{r.Start + r.Length - 1}/{size}");
        }
        else
        {
            response.StatusCode = 200;
            if (size == 0 && request.Http.Request.Headers.Range.Count > 0)
            {
                // No range handling for empty files (200, whole empty body), but @huggingface/hub reads the total size
                // of its "bytes=0-0" probe from Content-Range only, and fails on an empty file without it.
                response.Headers.ContentRange = "bytes */0";
            }
        }
        if (plan.Gzip)
        {
            response.Headers.ContentEncoding = "gzip";
            response.Headers.Vary = "Accept-Encoding";
        }
        else
        {
            response.ContentLength = Math.Max(0, length + plan.ContentLengthDelta);
        }
        if (request.IsHead)
        {
            return;
        }
        await using var gzip = plan.Gzip ? new GZipStream(response.Body, CompressionLevel.Fastest, leaveOpen: true) : null;
        var sink = gzip ?? response.Body;

        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        using var reader = content.OpenReader();
        try
        {
            long sent = 0;
            var limit = length + Math.Min(0, plan.ContentLengthDelta);
            while (sent < limit)
            {
                var want = (int)Math.Min(ChunkSize, limit - sent);
                want = plan.ClampChunk(sent, want);
                if (want == 0)
                {
                    // A fault point: drop or stall, decided by the plan; it returns false to stop sending.
                    if (!await plan.AtFaultPointAsync(request, sent, cancellationToken).ConfigureAwait(false))
                    {
                        return;
                    }
                    continue;
                }
                var read = await reader.ReadAtAsync(start + sent, buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException($"The content ended at {start + sent} of {size} bytes.");
                }
                plan.Mutate(start + sent, buffer.AsSpan(0, read));
                await plan.ThrottleAsync(read, cancellationToken).ConfigureAwait(false);
                await sink.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                sent += read;
                request.BodyBytesSent += read;
            }
            if (plan.ContentLengthDelta > 0)
            {
                // The header promised more than the body holds: ending the response short makes Kestrel close the
                // connection after the bytes written.
                await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                request.Aborted = true;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
