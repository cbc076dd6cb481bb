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
            if (!TryParsePosition(last, out var suffix))
            {
                return null;
            }
            return suffix == 0
                ? new ByteRange(0, 0, Unsatisfiable: true)
                : new ByteRange(Math.Max(0, size - suffix), Math.Min(suffix, size), false);
        }
        if (!TryParsePosition(first, out var start))
        {
            return null;
        }
        var end = size - 1;
        if (last.Length > 0)
        {
            if (!TryParsePosition(last, out end) || end < start)
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

    /// <summary>
    /// A byte position of a Range header: digits only (RFC 9110 1*DIGIT). One past what a long holds is still valid
    /// syntax, larger than any file: it saturates, so a start that large is unsatisfiable (416) and an end or a suffix
    /// that large means "to the end" (206), as RFC 9110 says, instead of the range being ignored.
    /// </summary>
    private static bool TryParsePosition(string digits, out long value)
    {
        value = 0;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
        {
            return false;
        }
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            value = long.MaxValue;
        }
        return true;
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
        var range = plan.IgnoreRange || plan.Gzip || !IfRangeHolds(request, etag) ? null : ByteRange.Parse(request.Http.Request.Headers.Range.ToString(), size);
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

        var limit = length + Math.Min(0, plan.ContentLengthDelta);
        using var reader = content.OpenReader(start, limit);
        if (!await CopyAsync(request, plan, reader, start, limit, sink, 0, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        if (plan.ContentLengthDelta > 0)
        {
            // The header promised more than the body holds: ending the response short makes Kestrel close the
            // connection after the bytes written.
            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            request.Aborted = true;
        }
    }

    /// <summary>
    /// Whether a Range may be honoured under the request's <c>If-Range</c> (RFC 9110 §13.1.5): true without one; with an
    /// entity tag, only when it is strongly equal to the response's (a weak tag never is); with a date, only when it is
    /// exactly the response's <c>Last-Modified</c>, and never when none is sent. When it does not hold, the Range is
    /// ignored and the whole content answers 200: a client resuming a file that changed must not splice a range of
    /// the new one onto its old bytes. Set <c>Last-Modified</c> before calling.
    /// </summary>
    internal static bool IfRangeHolds(HubRequest request, string etag)
    {
        var ifRange = request.Http.Request.Headers.IfRange.ToString().Trim();
        if (ifRange.Length == 0)
        {
            return true;
        }
        if (ifRange.StartsWith('"') || ifRange.StartsWith("W/", StringComparison.Ordinal))
        {
            return string.Equals(ifRange, etag, StringComparison.Ordinal);
        }
        var lastModified = request.Response.Headers.LastModified.ToString();
        return lastModified.Length > 0
            && DateTimeOffset.TryParse(ifRange, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var asked)
            && DateTimeOffset.TryParse(lastModified, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var modified)
            && asked == modified;
    }

    /// <summary>
    /// Sends several ranges of a content as one 206 <c>multipart/byteranges</c> answer (RFC 9110 §14.6): a part per
    /// range, in the order given, each with its <c>Content-Type</c> and <c>Content-Range</c>. Throughput limits and
    /// body faults apply as for one range, their offsets counting content bytes.
    /// </summary>
    public static async Task ServeMultipartAsync(
        HubRequest request,
        FileContent content,
        IReadOnlyList<ByteRange> ranges,
        string contentType,
        string fileKey,
        CancellationToken cancellationToken)
    {
        var response = request.Response;
        var size = content.Length;
        var plan = request.State.Faults.PlanTransfer(request, fileKey, size);
        var boundary = "hfdl" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        var heads = ranges.Select((r, i) => System.Text.Encoding.ASCII.GetBytes(
            (i == 0 ? "" : "\r\n") + $"--{boundary}\r\nContent-Type: {contentType}\r\nContent-Range: bytes {r.Start}-{r.Start + r.Length - 1}/{size}\r\n\r\n")).ToList();
        var tail = System.Text.Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n");
        response.StatusCode = 206;
        response.ContentType = "multipart/byteranges; boundary=" + boundary;
        response.Headers.AcceptRanges = "bytes";
        response.ContentLength = heads.Sum(h => h.Length) + ranges.Sum(r => r.Length) + tail.Length;
        if (request.IsHead)
        {
            return;
        }
        using var reader = content.OpenReader();
        long sent = 0;
        for (var i = 0; i < ranges.Count; i++)
        {
            await response.Body.WriteAsync(heads[i], cancellationToken).ConfigureAwait(false);
            if (!await CopyAsync(request, plan, reader, ranges[i].Start, ranges[i].Length, response.Body, sent, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
            sent += ranges[i].Length;
        }
        await response.Body.WriteAsync(tail, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes to the client; with <see cref="HubServerOptions.ClientStallTimeout"/>, a write the client does not take
    /// within it (it stopped reading) cuts the connection, and the write ends as the client going away does.
    /// </summary>
    private static async Task WriteOrCutAsync(HubRequest request, Stream sink, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var writing = sink.WriteAsync(bytes, cancellationToken);
        if (writing.IsCompleted || request.State.Options.ClientStallTimeout is not { } stall)
        {
            await writing.ConfigureAwait(false);
            return;
        }
        var write = writing.AsTask();
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (await Task.WhenAny(write, Task.Delay(stall, wait.Token)).ConfigureAwait(false) != write)
        {
            request.Http.Abort(); // the pending write then fails, as for a client that went away
        }
        await wait.CancelAsync().ConfigureAwait(false);
        await write.ConfigureAwait(false);
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes from <paramref name="start"/> through a pooled buffer, applying the plan's
    /// throttling, corruption and fault points (at <paramref name="sentBefore"/> + bytes copied); false when a fault
    /// stopped the body.
    /// </summary>
    private static async Task<bool> CopyAsync(
        HubRequest request, TransferPlan plan, IContentReader reader, long start, long length, Stream sink, long sentBefore, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long done = 0;
            while (done < length)
            {
                var sent = sentBefore + done;
                var want = (int)Math.Min(ChunkSize, length - done);
                want = plan.ClampChunk(sent, want);
                if (want == 0)
                {
                    // A fault point: drop or stall, decided by the plan; it returns false to stop sending.
                    if (!await plan.AtFaultPointAsync(request, sent, cancellationToken).ConfigureAwait(false))
                    {
                        return false;
                    }
                    continue;
                }
                var read = await reader.ReadAtAsync(start + done, buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException($"The content ended at {start + done}, inside the range being sent.");
                }
                plan.Mutate(start + done, buffer.AsSpan(0, read));
                await plan.ThrottleAsync(read, cancellationToken).ConfigureAwait(false);
                await WriteOrCutAsync(request, sink, buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                done += read;
                request.BodyBytesSent += read;
            }
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
