using Hfdl.Core.Hub;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Transfer;

/// <summary>
/// A file fetched through its Hub resolve URL on every attempt, following the Hub's redirects (to resolve-cache, to a
/// CDN): one request per small file, no HEAD first. A refused CDN URL needs nothing forgotten: the next attempt asks
/// the Hub again and gets a fresh one.
/// </summary>
internal sealed class ResolveUrlSource(HubClient client, RepoType type, RepoId id, string commit, RemoteFile file) : IFetchSource
{
    private readonly Uri _url = HubUrls.Resolve(client.Endpoint, type, id, commit, file.Path);

    public string Path => file.Path;

    public HubRequestContext Context { get; } = client.Context(type, id, commit, file.Path) with { FileListed = true };

    public ValueTask<Uri> GetUrlAsync(CancellationToken cancellationToken) => new(_url);

    public void Invalidate(Uri refused)
    {
    }
}

/// <summary>
/// A big file's download URL, resolved once through the Hub (a HEAD, which also checks the size and etag the listing
/// gave) and reused by every segment, until it is refused (signed URLs expire) or older than the refresh interval.
/// </summary>
internal sealed class CachedLocationSource(HubClient client, RepoType type, RepoId id, string commit, RemoteFile file, TimeSpan refreshInterval, TimeProvider time)
    : IFetchSource, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Uri? _url;
    private long _resolvedAt;

    public string Path => file.Path;

    public HubRequestContext Context { get; } = client.Context(type, id, commit, file.Path) with { FileListed = true };

    /// <summary>The Xet hash the resolve answer gave (<c>X-Xet-Hash</c>), once the URL was resolved.</summary>
    public string? XetHash { get; private set; }

    public async ValueTask<Uri> GetUrlAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_url is not null && time.GetElapsedTime(_resolvedAt) < refreshInterval)
            {
                return _url;
            }
            var metadata = await client.GetFileMetadataAsync(type, id, commit, file.Path, listed: true, cancellationToken).ConfigureAwait(false);
            if (metadata.Size != file.Size)
            {
                throw new HubProtocolException($"The Hub's listing says '{file.Path}' has {file.Size} bytes, but its download endpoint says {metadata.Size}; hfdl refuses to guess which is right. Try again later.");
            }
            if (!string.Equals(metadata.Etag, file.Etag, StringComparison.OrdinalIgnoreCase) && Integrity.ContentHash.TryFromEtag(metadata.Etag, out _))
            {
                throw new HubProtocolException($"The Hub's listing and its download endpoint disagree on the content of '{file.Path}' (etag {metadata.Etag} vs {file.Etag}).");
            }
            _url = metadata.Location;
            XetHash = metadata.XetHash;
            _resolvedAt = time.GetTimestamp();
            return _url;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Forgets <paramref name="refused"/> only: a fresh URL another connection resolved meanwhile is kept.</summary>
    public void Invalidate(Uri refused) => Interlocked.CompareExchange(ref _url, null, refused);

    /// <summary>
    /// Nothing to release: the gate is left undisposed on purpose. Disposing a SemaphoreSlim drops its queued waiters
    /// without completing them, and not even their cancellation wakes them (a connection waiting here when its file
    /// failed hung the run for ever, deaf to Ctrl+C and SIGTERM). It holds no native resource, so the GC takes it.
    /// </summary>
    public void Dispose()
    {
    }
}
