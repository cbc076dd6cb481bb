using System.Globalization;
using Hfdl.Core.Xet;

namespace Hfdl.Hub.Server;

internal sealed partial class CdnHandler
{
    private const string XorbPathPrefix = "/xorbs/default/";

    /// <summary>The key that counts <see cref="XetFaults.ExpiredXorbUrls"/> strikes.</summary>
    private static readonly object ExpiredXorbUrlsFault = new();

    /// <summary>
    /// <c>GET /xorbs/default/{hash}</c>: byte ranges of a xorb, as the transfer host serves them. The URL's signature
    /// covers <c>X-Xet-Signed-Range</c>; the request's <c>Range</c> must name signed ranges exactly (all of them, or
    /// some), anything else is refused, as is a missing <c>Range</c>. One range is a 206 with the bytes, several a 206
    /// <c>multipart/byteranges</c>.
    /// </summary>
    private async Task XorbAsync(HubRequest request, CancellationToken cancellationToken)
    {
        var expires = request.Query["Expires"].ToString();
        var signature = request.Query["Signature"].ToString();
        var signedRange = request.Query["X-Xet-Signed-Range"].ToString();
        var repoObjectId = request.Query["repo_id"].ToString();
        if (expires.Length == 0 || signature.Length == 0 || signedRange.Length == 0 || request.Query["Key-Pair-Id"].Count == 0)
        {
            await XmlErrorAsync(request, 403, "MissingKey", "Missing Key-Pair-Id query parameter or cookie value", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!CryptographicEquals(state.Sign(HubState.XorbSignedResource(request.RawPath, signedRange, repoObjectId), expires), signature))
        {
            await XmlErrorAsync(request, 403, "AccessDenied", "Access denied", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var expiry) || state.Now.ToUnixTimeSeconds() > expiry)
        {
            await XmlErrorAsync(request, 403, "AccessDenied", "Request has expired", cancellationToken).ConfigureAwait(false);
            return;
        }
        var signed = ParseRanges(signedRange);
        var asked = ParseRanges(request.Http.Request.Headers.Range.ToString());
        if (signed is null || asked is null || asked.Any(r => !signed.Contains(r)) || asked.Distinct().Count() != asked.Count)
        {
            await XmlErrorAsync(request, 403, "AccessDenied", "The Range header must name byte ranges this URL was signed for", cancellationToken).ConfigureAwait(false);
            return;
        }
        var hash = request.RawPath[XorbPathPrefix.Length..];
        var xorb = XetHash.TryParse(hash, out var xorbHash) ? state.Xet.FindXorb(xorbHash) : null;
        if (xorb is null)
        {
            await XmlErrorAsync(request, 404, "NoSuchKey", "The specified key does not exist.", cancellationToken).ConfigureAwait(false);
            return;
        }
        request.Faults = state.XorbFaults(repoObjectId);
        if (request.Faults.Xet is { ExpiredXorbUrls: > 0 } xetFaults && state.Faults.StrikesFirst(request.Faults, ExpiredXorbUrlsFault, xetFaults.ExpiredXorbUrls))
        {
            await XmlErrorAsync(request, 403, "AccessDenied", "Request has expired", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!await state.Faults.BeforeResponseAsync(request, FaultTargets.Cdn, json: false, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        if (asked.Any(r => r.Start + r.Length > xorb.Length))
        {
            request.Response.Headers.ContentRange = "bytes */" + xorb.Length.ToString(CultureInfo.InvariantCulture);
            await XmlErrorAsync(request, 416, "InvalidRange", "The requested range is not satisfiable", cancellationToken).ConfigureAwait(false);
            return;
        }
        var headers = request.Response.Headers;
        headers.CacheControl = "public, max-age=604800, immutable, s-maxage=604800";
        headers.LastModified = "Wed, 15 Jan 2025 10:30:00 GMT";
        FileContent content = xorb.Content;
        if (request.Faults.Xet is { CorruptXorbRanges: true })
        {
            content = new FlippedContent(content, asked.Select(r => r.Start + (r.Length / 2)).ToHashSet());
        }
        var etag = HubRequest.Quote(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes("xorb:" + hash))));
        if (asked.Count == 1)
        {
            await ContentSender.ServeAsync(request, content, etag, "application/octet-stream", "xorb/" + hash, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            headers.ETag = etag;
            await ContentSender.ServeMultipartAsync(request, content, asked, "application/octet-stream", "xorb/" + hash, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary><c>bytes=a-b[,c-d…]</c> with explicit starts and ends (what signed ranges are); null for anything else.</summary>
    private static List<ByteRange>? ParseRanges(string header)
    {
        if (!header.StartsWith("bytes=", StringComparison.Ordinal))
        {
            return null;
        }
        var ranges = new List<ByteRange>();
        foreach (var spec in header["bytes=".Length..].Split(','))
        {
            var dash = spec.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0
                || !long.TryParse(spec.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                || !long.TryParse(spec.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var end)
                || end < start)
            {
                return null;
            }
            ranges.Add(new ByteRange(start, end - start + 1, false));
        }
        return ranges;
    }

    /// <summary>A content with some bytes flipped (the corrupt-xorb fault).</summary>
    private sealed class FlippedContent(FileContent inner, IReadOnlySet<long> offsets) : FileContent
    {
        public override long Length => inner.Length;

        public override int ReadAt(long offset, Span<byte> destination)
        {
            var read = inner.ReadAt(offset, destination);
            foreach (var at in offsets)
            {
                if (at >= offset && at < offset + read)
                {
                    destination[(int)(at - offset)] ^= 0xFF;
                }
            }
            return read;
        }
    }
}
